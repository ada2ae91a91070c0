"""The method contract as small ``check_*`` functions, run over every registered method.

Plugin authors run them on their own methods: ``python -m bench check my_method.py`` or
``run_checks("my-method")``. Failures a method is allowed are data in its plugin
(``Method.allowed_failures``), never branches in the checks.
Fitting checks use the method's ``fast_params`` and share one fit per method
(``fitted``): what they ask of a fit is read from the same fitted object.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.contract.method import Env, Method, NotFittedError
from bench.contract.params import check_space
from bench.data.dataset import TrainData
from bench.plugins import load_plugins
from bench.registry import ANOMALY_LABELS, LABELED_SET, METHODS
from bench.scoring.metrics import auroc
from bench.sweep.fit_score import check_scores, seed_everything


def planted_data(
    n_normal: int = 200, n_outlier: int = 20, seed: int = 0, channels: int = 1
) -> tuple[TrainData, np.ndarray, np.ndarray]:
    """Dim noisy 8x8 images as normals; outliers carry a bright 4x4 patch. With 3 channels each
    channel has its own tint, so a method that reads one channel only sees less than the whole."""
    rng = np.random.default_rng(seed)
    tint = np.array([1.0, 0.8, 0.6][:channels], np.float32)[None, :, None, None] if channels > 1 else 1.0

    def normals(n: int) -> np.ndarray:
        noise = rng.normal(0.3, 0.05, size=(n, channels, 8, 8)) * tint
        return np.clip(noise, 0, 1).astype(np.float32)

    outliers = normals(n_outlier)
    outliers[:, :, 2:6, 2:6] = 0.95
    train_x = normals(n_normal)
    # Methods that need labels get some labeled anomalies in training; the rest ignore them.
    train_anom = normals(n_outlier)
    train_anom[:, :, 2:6, 2:6] = 0.95
    # Methods that need a labeled set get a few normals in two classes (by brightness).
    labeled_x = normals(20) + np.repeat([0.0, 0.2], 10)[:, None, None, None].astype(np.float32)
    train = TrainData(
        x=np.concatenate([train_x, train_anom]),
        anomaly=np.r_[np.zeros(n_normal, np.int8), np.ones(n_outlier, np.int8)],
        classes=np.zeros(n_normal + n_outlier, np.int64),
        labeled_x=labeled_x,
        labeled_classes=np.repeat([0, 1], 10),
    )
    test_x = np.concatenate([normals(n_normal // 2), outliers])
    test_y = np.r_[np.zeros(n_normal // 2, np.int8), np.ones(n_outlier, np.int8)]
    return train, test_x, test_y


def _train_for(name: str, train: TrainData) -> TrainData:
    info, _ = METHODS.get(name)
    if ANOMALY_LABELS in info.needs:
        return train
    keep = train.anomaly == 0  # unsupervised methods train on normals, without labels
    if LABELED_SET in info.needs:
        return TrainData(x=train.x[keep], labeled_x=train.labeled_x, labeled_classes=train.labeled_classes)
    return TrainData(x=train.x[keep])


def fit_on(method: Method, name: str, data_seed: int = 0, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Seed, fit ``method`` on planted data, calibrate where it does; the test images' scores."""
    train, test_x, _ = planted_data(seed=data_seed, channels=channels)
    seed_everything(seed)
    assert method.fit(_train_for(name, train), Env(seed=seed)) is method, "fit must return self"
    if method.calibrates():
        _, val_x, val_y = planted_data(seed=data_seed + 100, channels=channels)
        method.calibrate(val_x, val_y)
    return method.score(test_x)


def fast(name: str) -> Method:
    _, cls = METHODS.get(name)
    return cls(**cls.fast_params)


@dataclass(frozen=True)
class Fitted:
    method: Method
    params_before: dict[str, Any]
    scores: np.ndarray
    test_y: np.ndarray


@functools.cache
def fitted(name: str) -> Fitted:
    """The one shared fit of ``name`` (fast parameters, planted data, seed 0) that checks read."""
    method = fast(name)
    before = method.get_params()
    scores = fit_on(method, name)
    return Fitted(method, before, scores, planted_data()[2])


def check_init_stores_params(name: str) -> None:
    _, cls = METHODS.get(name)
    params = cls().get_params()
    assert isinstance(params, dict)
    rebuilt = cls(**params).get_params()
    assert rebuilt == params, "cls(**get_params()) must give the same parameters"


def check_init_only_stores(name: str) -> None:
    """``__init__`` stores its arguments as given and learns nothing (no ``name_`` state)."""
    _, cls = METHODS.get(name)
    given = dict(cls.fast_params)
    method = cls(**given)
    learned = [k for k in vars(method) if k.endswith("_") and not k.startswith("_")]
    assert not learned, f"__init__ sets learned state {learned}"
    params = method.get_params()
    for key, value in given.items():
        stored = params[key]
        assert stored == value and type(stored) is type(value), f"__init__ must store {key} as given"


def check_declared_hyperparameters(name: str) -> None:
    """Defaults satisfy their own declarations; the search spaces propose only valid values."""
    _, cls = METHODS.get(name)
    declared = cls.hyperparameters()
    for key, value in cls().get_params().items():
        declared[key].check(value)
    check_space(name, declared, cls.search_space)
    check_space(name, declared, cls.score_space)
    unknown = set(cls.fast_params) - set(declared)
    assert not unknown, f"fast_params names {sorted(unknown)}, which are not hyperparameters"


def check_score_before_fit_raises(name: str) -> None:
    _, cls = METHODS.get(name)
    try:
        cls().score(np.zeros((2, 1, 8, 8), np.float32))
    except NotFittedError:
        return
    raise AssertionError("score before fit must raise NotFittedError")


def check_scores_shape_and_finite(name: str) -> None:
    fit = fitted(name)
    scores = check_scores(fit.scores, len(fit.test_y))
    assert scores.dtype == np.float64
    threshold = fit.method.threshold()
    assert threshold is None or np.isfinite(threshold)


def check_fit_leaves_params_unchanged(name: str) -> None:
    fit = fitted(name)
    assert fit.method.get_params() == fit.params_before, "fit must not change the hyperparameters"


def check_planted_outliers_found(name: str) -> None:
    fit = fitted(name)
    got = auroc(fit.test_y, fit.scores)
    assert got > 0.8, f"AUROC {got:.3f} on planted outliers (want > 0.8)"


def check_deterministic_under_seed(name: str) -> None:
    """A second fit from scratch, seeded as the harness seeds a cell, gives the same numbers."""
    again = fit_on(fast(name), name)
    np.testing.assert_allclose(again, fitted(name).scores, rtol=1e-5, atol=1e-7)


def check_fit_twice_replaces_the_first_fit(name: str) -> None:
    """Fitted on other data first, then as the shared fit: the shared fit's scores, nothing kept over."""
    method = fast(name)
    fit_on(method, name, data_seed=7, seed=5)
    np.testing.assert_allclose(fit_on(method, name), fitted(name).scores, rtol=1e-5, atol=1e-7)


def check_colour_images(name: str) -> None:
    """Fitted and scored on 3-channel images: one finite score per image, planted outliers found."""
    _, test_x, test_y = planted_data(channels=3)
    scores = check_scores(fit_on(fast(name), name, channels=3), len(test_x))
    got = auroc(test_y, scores)
    assert got > 0.8, f"AUROC {got:.3f} on planted outliers in colour (want > 0.8)"


CHECKS: list[Callable[[str], None]] = [
    check_init_stores_params,
    check_init_only_stores,
    check_declared_hyperparameters,
    check_score_before_fit_raises,
    check_scores_shape_and_finite,
    check_fit_leaves_params_unchanged,
    check_planted_outliers_found,
    check_deterministic_under_seed,
    check_fit_twice_replaces_the_first_fit,
    check_colour_images,
]


PASS, FAIL, ALLOWED = "pass", "FAIL", "allowed failure"


@dataclass(frozen=True)
class CheckRow:
    """One check's outcome on one method: pass, FAIL (with the reason) or an allowed failure."""

    method: str
    check: str
    outcome: str
    detail: str
    seconds: float


def check_rows(name: str) -> list[CheckRow]:
    """Every check on method ``name`` (plugins loaded first), one row each, in order."""
    load_plugins()
    _, cls = METHODS.get(name)
    allowed = cls.allowed_failures
    rows = []
    try:
        for check in CHECKS:
            start = time.perf_counter()
            try:
                check(name)
                outcome, detail = PASS, ""
            except Exception as exc:
                reason = allowed.get(check.__name__)
                outcome = ALLOWED if reason else FAIL
                detail = f"{type(exc).__name__}: {exc}" + (f" (allowed: {reason})" if reason else "")
            rows.append(CheckRow(name, check.__name__, outcome, detail, time.perf_counter() - start))
    finally:
        fitted.cache_clear()
    return rows


def run_checks(name: str) -> dict[str, str]:
    """Run every check on method ``name``; returns {check: error} for the ones that failed
    (allowed failures left out). Works from a plain Python session: plugins are loaded first."""
    return {row.check: row.detail for row in check_rows(name) if row.outcome == FAIL}
