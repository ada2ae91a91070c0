"""The method contract as small ``check_*`` functions, run over every registered method.

Plugin authors can run them on their own methods: ``run_checks("my-method")``.
Known failures are data (``EXPECTED_FAILED_CHECKS``), never branches in the checks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.cell import check_scores, seed_everything
from bench.data import TrainData
from bench.method import Env, Method, NotFittedError
from bench.metrics import auroc
from bench.registry import ANOMALY_LABELS, LABELED_SET, METHODS

# method name -> {check name: reason}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def planted_data(
    n_normal: int = 200, n_outlier: int = 20, seed: int = 0
) -> tuple[TrainData, np.ndarray, np.ndarray]:
    """Dim noisy 8x8 images as normals; outliers carry a bright 4x4 patch."""
    rng = np.random.default_rng(seed)

    def normals(n: int) -> np.ndarray:
        return np.clip(rng.normal(0.3, 0.05, size=(n, 1, 8, 8)), 0, 1).astype(np.float32)

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


def _fit(name: str, seed: int = 0) -> tuple[Method, np.ndarray, np.ndarray]:
    _, cls = METHODS.get(name)
    train, test_x, test_y = planted_data()
    seed_everything(seed)
    method = cls()
    assert method.fit(_train_for(name, train), Env(seed=seed)) is method, "fit must return self"
    if method.calibrates():
        _, val_x, val_y = planted_data(seed=seed + 100)
        method.calibrate(val_x, val_y)
    return method, test_x, test_y


def check_init_stores_params(name: str) -> None:
    _, cls = METHODS.get(name)
    params = cls().get_params()
    assert isinstance(params, dict)
    rebuilt = cls(**params).get_params()
    assert rebuilt == params, "cls(**get_params()) must give the same parameters"


def check_score_before_fit_raises(name: str) -> None:
    _, cls = METHODS.get(name)
    try:
        cls().score(np.zeros((2, 1, 8, 8), np.float32))
    except NotFittedError:
        return
    raise AssertionError("score before fit must raise NotFittedError")


def check_scores_shape_and_finite(name: str) -> None:
    method, test_x, _ = _fit(name)
    scores = check_scores(method.score(test_x), len(test_x))
    assert scores.dtype == np.float64
    threshold = method.threshold()
    assert threshold is None or np.isfinite(threshold)


def check_deterministic_under_seed(name: str) -> None:
    """Seed, fit, score, twice: the same numbers (as the harness runs a cell)."""
    runs = []
    for _ in range(2):
        method, test_x, _ = _fit(name, seed=3)
        runs.append(method.score(test_x))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-7)


def check_planted_outliers_found(name: str) -> None:
    method, test_x, test_y = _fit(name)
    got = auroc(test_y, method.score(test_x))
    assert got > 0.8, f"AUROC {got:.3f} on planted outliers (want > 0.8)"


CHECKS: list[Callable[[str], None]] = [
    check_init_stores_params,
    check_score_before_fit_raises,
    check_scores_shape_and_finite,
    check_deterministic_under_seed,
    check_planted_outliers_found,
]


def run_checks(name: str) -> dict[str, str]:
    """Run every check on method ``name``; returns {check: error} for the ones that failed."""
    failures = {}
    for check in CHECKS:
        try:
            check(name)
        except Exception as exc:
            failures[check.__name__] = f"{type(exc).__name__}: {exc}"
    return failures
