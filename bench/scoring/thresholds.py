"""Threshold rules as functions of validation scores (anomalous iff score > threshold)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.contract.space import Dim, decode, suggest_all
from bench.scoring.metrics import auroc, best_f1


def max_accuracy_threshold(scores: np.ndarray, anomaly: np.ndarray) -> float:
    """The cut between two consecutive distinct scores that classifies the most images correctly.

    With no anomalies it falls back to the largest score (flag nothing), never to the
    smallest (which would flag everything).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(anomaly).astype(bool)
    if not y.any():
        return float(s.max())
    order = np.argsort(s, kind="mergesort")
    s, y = s[order], y[order]
    # Cutting after position i flags s[i+1:]: correct = normals at or below + anomalies above.
    normals_below = np.cumsum(~y)
    anomalies_above = y.sum() - np.cumsum(y)
    correct = normals_below + anomalies_above
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    best = last_of_tie[np.argmax(correct[last_of_tie])]
    flag_all = int(y.sum())  # a cut below the smallest score
    if flag_all > correct[best]:
        return float(np.nextafter(s[0], -np.inf))
    return float(s[best] if best == len(s) - 1 else (s[best] + s[best + 1]) / 2)


def midpoint_threshold(scores: np.ndarray, anomaly: np.ndarray) -> float:
    """Halfway between the mean normal and the mean anomalous score."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(anomaly).astype(bool)
    if not y.any():
        return float(s.max())
    return float((s[~y].mean() + s[y].mean()) / 2)


@dataclass(frozen=True)
class TunedThreshold:
    """A threshold (and score parameters) chosen on validation data, and how."""

    threshold: float
    params: dict[str, Any]
    source: str  # val-pr-curve | val-optuna | val-normal-rule
    val_f1: float
    trials: int = 0
    val_auroc: float = float("nan")  # the method's own scores (default score parameters) on validation


NORMAL_RULE_K = 3.0


def tune_threshold(
    val_scorer: Callable[..., np.ndarray],
    val_anomaly: np.ndarray,
    space: dict[str, Dim] | None = None,
    *,
    seed: int = 0,
    trials: int = 40,
) -> TunedThreshold:
    """Choose the threshold maximising validation F1, searching ``space`` jointly with it.

    ``val_scorer(**params)`` gives the validation scores for score parameters
    ``params`` (none when ``space`` is empty). The threshold itself is exact for
    every candidate (``best_f1`` over the validation PR curve); Optuna (TPE,
    seeded, sequential) searches only parameters that change the ranking.
    Rule parameters such as k in mean + k std or a quantile only move the
    threshold, so the exact search already covers them. Without validation
    anomalies F1 cannot be measured: the threshold falls back to the normal-only
    rule mean + 3 std of the validation scores, never to the minimum score.
    """
    y = np.asarray(val_anomaly).astype(bool)
    scores = val_scorer()
    if not y.any():
        return TunedThreshold(
            float(np.mean(scores) + NORMAL_RULE_K * np.std(scores)), {}, "val-normal-rule", float("nan")
        )
    if not space:
        f1, threshold = best_f1(y, scores)
        return TunedThreshold(threshold, {}, "val-pr-curve", f1, val_auroc=auroc(y, scores))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: best_f1(y, val_scorer(**suggest_all(trial, space)))[0], n_trials=trials)
    params = decode(space, study.best_params)
    f1, threshold = best_f1(y, val_scorer(**params))
    return TunedThreshold(threshold, params, "val-optuna", f1, trials, auroc(y, scores))
