"""One cell: a method fitted and scored on one split, with every failure turned into a result."""

from __future__ import annotations

import dataclasses
import random
import signal
import traceback
from typing import Any

import numpy as np
import torch

from bench import schema
from bench.cell import CellResult
from bench.contract.method import Env, Method
from bench.data.dataset import Split, TrainData
from bench.errors import first_line
from bench.registry import ANOMALY_LABELS, CLASS_LABELS, LABELED_SET
from bench.scoring.metrics import detection_metrics
from bench.scoring.open_set_scores import classify as classify_open_set
from bench.scoring.thresholds import TunedThreshold, tune_threshold
from bench.sweep.cost import PeakMemory, Stopwatch, epoch_ms


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_scores(scores: Any, n: int) -> np.ndarray:
    """The scores as float64 ``(n,)``, or ValueError saying what is wrong with them."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"scores have shape {arr.shape}, expected ({n},)")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{bad} of {n} scores are NaN or infinite")
    if n > 1 and np.ptp(arr) == 0:
        raise ValueError(f"all {n} scores are the same ({arr[0]:.6g})")
    return arr


def train_data(split: Split, needs: frozenset[str]) -> TrainData:
    """The training data a method may see: images, plus only the labels it declared it needs.

    The labeled set of protocols that have one (open-set) is validation's labeled
    normal images.
    """
    labeled = split.val.anomaly == 0 if LABELED_SET in needs else None
    return TrainData(
        x=split.train.x,
        anomaly=split.train.anomaly if ANOMALY_LABELS in needs else None,
        classes=split.train.classes if CLASS_LABELS in needs else None,
        labeled_x=split.val.x[labeled] if labeled is not None else None,
        labeled_classes=split.val.classes[labeled] if labeled is not None else None,
    )


def run_cell(
    method: Method,
    needs: frozenset[str],
    split: Split,
    env: Env,
    threshold_mode: str = "own",
    classify: bool = False,
) -> CellResult:
    """Fit on train, score test, compute metrics; any exception becomes a failed result.

    With ``threshold_mode="tuned"`` a second threshold (and the method's score parameters) is chosen
    from the validation split alone, before any test score exists, and reported as the ``tuned_*``
    metrics. With ``classify`` (open-set protocols) a head is trained on the method's encoder
    features of the labeled validation images and the classification metrics are added."""
    train = train_data(split, needs)
    began = epoch_ms()
    try:
        seed_everything(env.seed)
        with PeakMemory(env.device) as memory:
            with Stopwatch() as fit_time:
                method.fit(train, env)
                if method.calibrates():
                    method.calibrate(split.val.x, split.val.anomaly)
            tuned = None
            if threshold_mode == "tuned":  # validation only, before any test image is scored
                with Stopwatch() as tune_time:
                    tuned = tune_on_validation(method, split.val.x, split.val.anomaly, env.seed)
            with Stopwatch() as score_time:
                test_scores = method.scorer(split.test.x)  # one pass; score parameters re-mix it
                scores = check_scores(test_scores(), len(split.test))
            threshold = _own_threshold(method)
            tuned_scores = scores
            if tuned is not None and tuned.params:
                tuned_scores = check_scores(test_scores(**tuned.params), len(split.test))
            answer = classify_open_set(method, split, scores, threshold, env) if classify else None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # isolate the cell: report it, go on
        return dataclasses.replace(_failed(exc), began=began, ended=epoch_ms())
    ended = epoch_ms()
    metrics = detection_metrics(split.test.anomaly, scores, threshold)
    if tuned is not None:
        metrics.update(_tuned_metrics(split.test.anomaly, tuned_scores, tuned, tune_time.seconds))
    report = None
    if answer is not None:
        class_metrics, report = answer
        metrics.update(class_metrics)
    metrics.update(method.fit_metrics())
    metrics.update(_cost(fit_time.seconds, score_time.seconds, len(split.test), memory.peak_mb))
    source = "none" if threshold is None else ("val-tuned" if method.calibrates() else "method-rule")
    return CellResult(
        ok=True,
        metrics=metrics,
        scores=scores,
        threshold=threshold,
        threshold_source=source,
        tuned=tuned,
        report=report,
        curves=method.fit_curves(),
        began=began,
        ended=ended,
    )


def _cost(fit_seconds: float, score_seconds: float, test_images: int, peak_mb: float) -> dict[str, float]:
    """What the cell cost: its fit and scoring times, its scoring speed and its peak memory."""
    return {
        schema.FIT_SECONDS: fit_seconds,
        schema.SCORE_SECONDS: score_seconds,
        "images_per_second": test_images / max(score_seconds, 1e-9),
        "peak_memory_mb": peak_mb,
    }


def _failed(exc: BaseException) -> CellResult:
    """The failed result of a cell that raised ``exc``; a real Ctrl-C is not the cell's to keep."""
    if isinstance(exc, KeyboardInterrupt) and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        raise exc  # a real Ctrl-C; in a worker (which ignores SIGINT) it can only be the method's own
    said = first_line(exc)
    reason = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    return CellResult(ok=False, error=reason[:500], detail=traceback.format_exc())


def _own_threshold(method: Method) -> float | None:
    threshold = method.threshold()
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"threshold is not finite ({threshold})")
    return threshold


def _tuned_metrics(
    anomaly: np.ndarray, scores: np.ndarray, tuned: TunedThreshold, seconds: float
) -> dict[str, float]:
    """Test metrics at the threshold (and score parameters) chosen on validation, as ``tuned_*``."""
    at = detection_metrics(anomaly, scores, tuned.threshold)
    named = {f"tuned_{k}": at[k] for k in ("f1", "precision", "recall", "accuracy", "threshold")}
    found = {schema.TUNED_VAL_F1: tuned.val_f1, schema.VAL_AUROC: tuned.val_auroc}
    return {**named, **found, schema.TUNE_SECONDS: seconds}


def tune_on_validation(method: Method, x: np.ndarray, anomaly: np.ndarray, seed: int) -> TunedThreshold:
    """The tuned threshold of a fitted method, from validation images and labels only."""
    return tune_threshold(method.scorer(x), anomaly, method.score_space, seed=seed)
