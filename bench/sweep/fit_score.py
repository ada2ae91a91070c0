"""One cell: a method fitted and scored on one split, with every failure turned into a result."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.config import variant_label
from bench.contract.method import Env, Method
from bench.data.dataset import Split, TrainData
from bench.data.protocol import ProtocolOptions, protocol_info, protocol_label, protocol_settings
from bench.errors import first_line
from bench.registry import ANOMALY_LABELS, CLASS_LABELS, LABELED_SET
from bench.scoring.metrics import detection_metrics
from bench.scoring.open_set import classify as classify_open_set
from bench.scoring.thresholds import TunedThreshold, tune_threshold
from bench.sweep.cost import PeakMemory, Stopwatch

CELL_SCHEMA = 3  # bump when what a cell computes changes, so old results are not reused (3: data digest)


@dataclass(frozen=True)
class Cell:
    """Everything that defines one result; its hash is the resume key."""

    method: str
    params: dict[str, Any]
    dataset: str
    protocol: str
    unit: int  # the class index, or the test set under protocols with numbered test sets
    seed: int
    options: ProtocolOptions
    overrides: dict[str, Any] = field(default_factory=dict)
    threshold: str = "own"  # or "tuned": also choose a threshold on validation
    tuned_from: str | None = None  # the tune study the parameters came from
    precision: str = "auto"  # keyed only when asked for explicitly (auto is fp32 on CPU, bf16 on CUDA)
    data: str = ""  # the dataset's content digest: edited or swapped data makes new cells
    deterministic: bool = False  # torch's deterministic algorithms only (keyed only when asked for)
    # The keyword arguments that rebuild the method in any process; ``params`` is what they mean.
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    pretrained: str = field(default="", compare=False)  # the outside data a method's weights come from
    plugin: str = field(default="", compare=False)  # "name version" of the package that registered it

    @property
    def label_name(self) -> str:
        return variant_label(self.method, self.overrides, self.tuned_from)

    def identity(self) -> dict[str, Any]:
        return {
            "schema": CELL_SCHEMA,
            "method": self.method,
            "params": self.params,
            "dataset": self.dataset,
            "data": self.data,
            "protocol": self.protocol,
            "class": self.unit,
            "seed": self.seed,
            "protocol_options": protocol_settings(self.protocol, self.options),
            # Version 1 is every split made before versions existed, so those cells keep their keys.
            **({"protocol_version": self.protocol_version} if self.protocol_version != 1 else {}),
            **({"threshold": self.threshold} if self.threshold != "own" else {}),
            **({"precision": self.precision} if self.precision != "auto" else {}),
            **({"deterministic": True} if self.deterministic else {}),
        }

    @property
    def key(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def protocol_version(self) -> int:
        return protocol_info(self.protocol).version

    @property
    def protocol_label(self) -> str:
        return protocol_label(self.protocol, self.options)

    @property
    def title(self) -> str:
        return f"{self.method} · {self.dataset} · {self.protocol_label} {self.unit}"

    @property
    def label(self) -> str:
        unit = "test set" if protocol_info(self.protocol).test_sets else "class"
        where = f"{self.dataset} | {self.protocol_label} | {unit} {self.unit} | seed {self.seed}"
        return f"{self.label_name} | {where}"

    @property
    def normal_class(self) -> str:
        """What is normal in this cell, in the protocol's words (the ``normal_class`` tag)."""
        known = self.options.known_classes
        return protocol_info(self.protocol).normal.format(
            k=self.unit, known=f" {','.join(map(str, known))}" if known else ""
        )


@dataclass
class CellResult:
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    scores: np.ndarray | None = None
    threshold: float | None = None
    threshold_source: str = "none"
    tuned: TunedThreshold | None = None
    report: pd.DataFrame | None = None  # open-set: per-class report of known classes + "unknown"
    error: str = ""
    detail: str = ""


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

    With ``threshold_mode="tuned"`` a second threshold (and the method's score
    parameters) is chosen from the validation split alone, before any test
    score exists, and reported as the ``tuned_*`` metrics. With ``classify``
    (open-set protocols) a head is trained on the method's encoder features of
    the labeled validation images and the classification metrics are added.
    """
    train = train_data(split, needs)
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
        return _failed(exc)
    metrics = detection_metrics(split.test.anomaly, scores, threshold)
    if tuned is not None:
        metrics.update(_tuned_metrics(split.test.anomaly, tuned_scores, tuned, tune_time.seconds))
    report = None
    if answer is not None:
        class_metrics, report = answer
        metrics.update(class_metrics)
    metrics.update(method.fit_metrics(), fit_seconds=fit_time.seconds, score_seconds=score_time.seconds)
    metrics.update(
        images_per_second=len(split.test) / max(score_time.seconds, 1e-9), peak_memory_mb=memory.peak_mb
    )
    source = "none" if threshold is None else ("val-tuned" if method.calibrates() else "method-rule")
    return CellResult(
        ok=True,
        metrics=metrics,
        scores=scores,
        threshold=threshold,
        threshold_source=source,
        tuned=tuned,
        report=report,
    )


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
    return {**named, "tuned_val_f1": tuned.val_f1, "tune_seconds": seconds}


def tune_on_validation(method: Method, x: np.ndarray, anomaly: np.ndarray, seed: int) -> TunedThreshold:
    """The tuned threshold of a fitted method, from validation images and labels only."""
    return tune_threshold(method.scorer(x), anomaly, method.score_space, seed=seed)
