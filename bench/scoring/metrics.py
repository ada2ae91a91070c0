"""Metrics as pure functions of (labels, scores): 1 = anomalous, higher score = more anomalous,
and ``METRICS``, the one declaration of each metric that cells, MLflow and every table loop over.

Threshold-free: AUROC and AUPRC (average precision). At a threshold: an image
is flagged anomalous iff its score is strictly greater than the threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

from bench import schema


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    return y, s


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability an anomaly outscores a normal (ties count half)."""
    y, s = _check(labels, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: sum over distinct thresholds of (recall gain) x precision."""
    y, s = _check(labels, scores)
    if not y.any():
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return np.r_[0.0, fp / max((~y).sum(), 1)], np.r_[0.0, tp / max(y.sum(), 1)]


def best_f1(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The highest F1 any threshold reaches, and that threshold (midway to the next lower score).

    On validation data this is the exact threshold search; on test data its F1
    is only an oracle bound and must never be reported as a result.
    """
    y, s = _check(labels, scores)
    if not y.any():
        return 0.0, float(s.max())
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    f1 = 2 * tp / (last_of_tie + 1 + y.sum())  # 2TP / (flagged + positives)
    i = int(np.argmax(f1))
    cut = last_of_tie[i]
    threshold = (s[cut] + s[cut + 1]) / 2 if cut + 1 < len(s) else np.nextafter(s[cut], -np.inf)
    return float(f1[i]), float(threshold)


@dataclass(frozen=True)
class AtThreshold:
    f1: float
    precision: float
    recall: float
    accuracy: float


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> AtThreshold:
    """F1, precision, recall (of the anomalous class) and accuracy when flagging score > threshold."""
    y, s = _check(labels, scores)
    pred = s > threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return AtThreshold(f1=f1, precision=precision, recall=recall, accuracy=float((pred == y).mean()))


def detection_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict[str, float]:
    """The per-cell metric dict: AUROC, AUPRC, the oracle F1 bound and, given a threshold,
    the thresholded metrics."""
    out = {m.key: m.score(labels, scores) for m in METRICS if m.score is not None}
    if threshold is not None:
        out.update(asdict(at_threshold(labels, scores, threshold)))
        out["threshold"] = float(threshold)
    return out


@dataclass(frozen=True)
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int


def per_class(y_true: np.ndarray, y_pred: np.ndarray, labels: list) -> dict[object, ClassScores]:
    """Precision, recall, F1 and support of each label (0 where undefined), as in a classification report."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    out = {}
    for label in labels:
        tp = int(((p == label) & (t == label)).sum())
        predicted, actual = int((p == label).sum()), int((t == label).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = ClassScores(precision, recall, f1, actual)
    return out


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list) -> float:
    """Unweighted mean F1 over ``labels``."""
    return float(np.mean([s.f1 for s in per_class(y_true, y_pred, labels).values()]))


def oracle_f1(labels: np.ndarray, scores: np.ndarray) -> float:
    """F1 at the best threshold on the data itself: a bound on test data, never a result."""
    return best_f1(labels, scores)[0]


LEADERBOARD, SUMMARY, OPEN_SET = "leaderboard", "summary", "open-set"  # the tables a metric appears in


@dataclass(frozen=True)
class Metric:
    """A metric as bench logs and shows it: one declaration, read by every table."""

    key: str  # the MLflow metric name; leaderboard columns KEY_mean and KEY_std
    label: str  # the column header
    tables: tuple[str, ...]  # leaderboard: always a column; summary: the sweep's console table; open-set
    score: Callable[[np.ndarray, np.ndarray], float] | None = None  # threshold-free: computed in every cell
    higher_is_better: bool = True
    fmt: str = ".3f"
    undefined: str = ""  # where cells ran without a value: shown as "—" with this note under the table


UNDEFINED = "—"  # a value that does not exist (never nan): F1 of a method without its own threshold
NO_OWN_RULE = (
    "— : F1 at the method's own rule is undefined, as the method has no threshold of its own; "
    "`--threshold tuned` adds F1 at a threshold chosen on validation data."
)

METRICS = (
    Metric("auroc", "AUROC", (LEADERBOARD, SUMMARY), score=auroc),
    Metric("auprc", "AUPRC", (LEADERBOARD, SUMMARY), score=auprc),
    Metric("f1", "F1 (own rule)", (LEADERBOARD, SUMMARY), undefined=NO_OWN_RULE),
    Metric("tuned_f1", "F1 (val-tuned)", (LEADERBOARD, SUMMARY)),
    Metric("oracle_f1", "oracle F1", (LEADERBOARD,), score=oracle_f1),
    Metric(schema.VAL_AUROC, "val AUROC", (LEADERBOARD,)),  # with --threshold tuned: what to choose rows by
    Metric("class_accuracy", "class accuracy", (OPEN_SET,)),
    Metric("class_macro_f1", "class macro F1", (OPEN_SET,)),
    Metric("class_accuracy_accepted", "class accuracy accepted", (OPEN_SET,)),
    Metric("open_set_accuracy", "open set accuracy", (OPEN_SET,)),
    Metric("class_accuracy_labeled", "class accuracy on the labeled set (fit, not a result)", (OPEN_SET,)),
    Metric(schema.FIT_SECONDS, "fit s", (SUMMARY,), higher_is_better=False, fmt=".2f"),
)
PRIMARY = METRICS[0]  # what leaderboards rank by


def shown_in(table: str) -> list[Metric]:
    """The declared metrics ``table`` shows, in declaration order."""
    return [m for m in METRICS if table in m.tables]
