"""Every PyOD detector as a bench method, through one adapter.

Images are flattened to pixel vectors in [0, 1]. PyOD's scores already mean
"higher = more abnormal", so they pass through unchanged. The method's own
threshold is PyOD's ``threshold_``: the (1 - contamination) quantile of the
training scores, with PyOD's default contamination 0.1. Hyperparameters are
the detector's own constructor arguments with PyOD's defaults, except where
``ALIASES`` says otherwise; ``pyod:<ClassName>`` reaches any other detector.
PyOD's signatures carry no annotations, so a value is checked against the
type of its default where that is a number or a bool (PyOD's string and None
defaults stand for modes such as "auto" beside numbers, so those take any
value), and against ``RANGES`` where the name has one.

PyOD's defaults are kept even where they fail on some data, so that bench's
rows are PyOD's: its PCA weights each component by the inverse of its
variance and scores every image infinite when a training set has a component
of exactly zero variance (digits under ``leave-one-out``); such a cell fails
with that count, and ``n_components=0.99`` keeps only components that carry
variance. One exception: a deep detector's ``batch_size`` is cut to the
training set's size when larger, since PyOD drops the last incomplete batch
and would otherwise train on nothing (and fail).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from bench.api import (
    Choice,
    Env,
    Float,
    Hyper,
    Int,
    Method,
    Range,
    Space,
    TrainData,
    UnknownNameError,
    cache_dir,
    env_value,
    flatten,
    register_method,
    register_method_family,
)

NEIGHBOURS = ("auto", "ball_tree", "kd_tree", "brute")  # scikit-learn's neighbour searches


@dataclass(frozen=True)
class Detector:
    """A PyOD detector under a bench name: where it lives, what bench changes, what tune searches."""

    module: str
    class_name: str
    space: Space = field(default_factory=dict)  # for `bench tune`
    overrides: dict[str, Any] = field(default_factory=dict)  # of PyOD's defaults
    fast: dict[str, Any] = field(default_factory=dict)  # the contract checks' fit settings
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a string option's values
    reproducibility: str = "exact"  # measured: docs/leaderboards.md, "Reproducibility"


ALIASES: dict[str, Detector] = {
    "pyod-iforest": Detector(
        "pyod.models.iforest",
        "IForest",
        {"n_estimators": Int(50, 500, log=True), "max_features": Float(0.1, 1.0)},
    ),
    "pyod-ecod": Detector("pyod.models.ecod", "ECOD"),
    "pyod-knn": Detector(
        "pyod.models.knn",
        "KNN",
        {"n_neighbors": Int(1, 50, log=True), "method": Choice()},
        choices={"method": ("largest", "mean", "median"), "algorithm": NEIGHBOURS},
    ),
    "pyod-pca": Detector(
        "pyod.models.pca",
        "PCA",
        {"n_components": Float(0.5, 0.99)},
        choices={"svd_solver": ("auto", "full", "arpack", "randomized")},
    ),
    "pyod-ocsvm": Detector(
        "pyod.models.ocsvm",
        "OCSVM",
        {"nu": Float(0.01, 0.5, log=True)},
        choices={"kernel": ("linear", "poly", "rbf", "sigmoid")},
    ),
    "pyod-lof": Detector(
        "pyod.models.lof", "LOF", {"n_neighbors": Int(5, 100, log=True)}, choices={"algorithm": NEIGHBOURS}
    ),
    "pyod-hbos": Detector("pyod.models.hbos", "HBOS", {"n_bins": Int(5, 100, log=True)}),
    "pyod-copod": Detector("pyod.models.copod", "COPOD"),
    # PyOD's deep detectors train 10+ epochs by default: the checks fit 2.
    "pyod-ae": Detector(
        "pyod.models.auto_encoder", "AutoEncoder", fast={"epoch_num": 2}, reproducibility="tolerance"
    ),
    "pyod-vae": Detector("pyod.models.vae", "VAE", fast={"epoch_num": 2}),
    "pyod-deepsvdd": Detector("pyod.models.deep_svdd", "DeepSVDD", fast={"epochs": 2}),
}

# Bounds by parameter name, for every detector that has a parameter of that name.
RANGES: dict[str, Range] = {
    "contamination": Range(gt=0, le=0.5),  # PyOD's own check
    "n_neighbors": Range(ge=1),
    "n_estimators": Range(ge=1),
    "n_bins": Range(ge=1),
    "epoch_num": Range(ge=1),
    "epochs": Range(ge=1),
    "batch_size": Range(ge=1),
    "lr": Range(gt=0),
    "nu": Range(gt=0, le=1),
    "max_features": Range(gt=0, le=1),
}

_SCANNED: set[str] = set()


def cache_compiled_helpers() -> None:
    """Keep PyOD's numba-compiled helpers in bench's cache folder, compiled once per machine.

    PyOD jit-compiles them without numba's on-disk cache, which cost about 10 s
    in every process that ran HBOS or the deep detectors (half of the CPU
    seconds of the default digits run went to it). Numba's own cache is keyed by
    source file and argument types and is checked against the file's timestamp.
    """
    import numba
    from numba.core.registry import CPUDispatcher

    if not env_value("NUMBA_CACHE_DIR"):
        numba.config.CACHE_DIR = str(cache_dir() / "numba")
    for name, module in list(sys.modules.items()):
        if not name.startswith("pyod.") or module is None or name in _SCANNED:
            continue
        _SCANNED.add(name)  # detector_class runs on every construction: scan each module once
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                value.enable_caching()


# Arguments the harness sets itself: never hyperparameters.
HARNESS_ARGS = {"self", "verbose", "random_state", "device", "n_features", "n_jobs"}


class PyODMethod(Method):
    """Adapter: a PyOD detector class behind the bench method contract."""

    module: ClassVar[str]
    class_name: ClassVar[str]
    overrides: ClassVar[dict[str, Any]] = {}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **params: Any) -> None:
        defaults = self.default_params()
        unknown = set(params) - set(defaults)
        if unknown:
            raise TypeError(f"{self.class_name} has no hyperparameters {sorted(unknown)}")
        self.params = {**defaults, **params}

    @classmethod
    def detector_class(cls) -> type:
        detector = getattr(importlib.import_module(cls.module), cls.class_name)
        cache_compiled_helpers()
        return detector

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.detector_class().__init__)
        params = {
            name: p.default
            for name, p in sig.parameters.items()
            if name not in HARNESS_ARGS
            and p.default is not p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        return {**params, **cls.overrides}

    @classmethod
    def hyperparameters(cls) -> dict[str, Hyper]:
        """Each of PyOD's keyword arguments: the type of its default, its range by name, and for a
        string option the values this detector declares (the check and ``Choice()`` read them)."""

        def kind(name: str, default: Any) -> Any:
            if name in cls.choices:
                return Literal[cls.choices[name]]
            return type(default) if isinstance(default, (bool, int, float)) else None

        return {
            name: Hyper(name, kind(name, default), default, RANGES.get(name))
            for name, default in cls.default_params().items()
        }

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def fit(self, train: TrainData, env: Env) -> PyODMethod:
        detector_cls = self.detector_class()
        accepted = inspect.signature(detector_cls.__init__).parameters
        x = flatten(train.x)
        harness = {
            "verbose": 0,
            "random_state": env.seed,
            "device": env.device,
            "n_features": x.shape[1],
        }
        kwargs = {**{k: v for k, v in harness.items() if k in accepted}, **self.params}
        if isinstance(kwargs.get("batch_size"), int) and kwargs["batch_size"] > len(x):
            # PyOD's deep detectors drop the last incomplete batch: a smaller training set trains on none
            kwargs["batch_size"] = len(x)
        self.detector_ = detector_cls(**kwargs)
        self.detector_.fit(x)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("detector_")
        return np.asarray(self.detector_.decision_function(flatten(x)), dtype=np.float64).ravel()

    def threshold(self) -> float:
        self._check_fitted("detector_")
        return float(self.detector_.threshold_)


def _adapter(detector: Detector) -> type:
    attrs = {
        "module": detector.module,
        "class_name": detector.class_name,
        "overrides": detector.overrides,
        "choices": detector.choices,
        "reproducibility": detector.reproducibility,
        "search_space": detector.space,
        "fast_params": detector.fast,
        "__doc__": f"PyOD {detector.class_name}.",
    }
    return type(f"PyOD_{detector.class_name}", (PyODMethod,), attrs)


def _find_detector(class_name: str) -> str:
    import pyod.models

    guess = f"pyod.models.{class_name.lower()}"
    candidates = [guess] + [f"pyod.models.{m.name}" for m in pkgutil.iter_modules(pyod.models.__path__)]
    for module in candidates:
        try:
            if hasattr(importlib.import_module(module), class_name):
                return module
        except Exception:  # modules with optional dependencies that are not installed
            continue
    raise UnknownNameError(f"unknown PyOD detector {class_name!r} (no class of that name in pyod.models)")


@register_method_family("pyod", "pyod:<ClassName> (any PyOD detector)", paper="PyOD")
def any_detector(class_name: str) -> type:
    return _adapter(Detector(_find_detector(class_name), class_name))


for _name, _detector in ALIASES.items():
    register_method(_name, family="pyod", paper="PyOD")(_adapter(_detector))
