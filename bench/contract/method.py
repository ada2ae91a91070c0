"""The method contract every plugin implements.

A method stores its hyperparameters as keyword arguments in ``__init__`` and
nothing else, learns in ``fit`` (which returns ``self``; learned state ends in
``_``), and maps images to anomaly scores where higher means more anomalous.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bench.contract.params import Hyper, declared_from_signature
from bench.contract.space import Dim
from bench.data.dataset import TrainData

if TYPE_CHECKING:
    from bench.contract.published import Published
    from bench.nets.features import Extractor


EXACT, TOLERANCE, CHAOTIC = "exact", "tolerance", "chaotic"  # how a method's results repeat


class NotFittedError(RuntimeError):
    """``score`` or ``threshold`` was called before ``fit``."""


@dataclass(frozen=True)
class Env:
    """What the harness hands a method at fit time: device, seed, precision and a progress hook."""

    device: str = "cpu"
    seed: int = 0
    on_epoch: Callable[[int, int, float], None] | None = None
    precision: str = "fp32"  # "bf16": mixed-precision training where the method allows it
    fast_kernels: bool = False  # bench's own CPU kernels where torch's are slow (bench.nets.kernels)

    def report_epoch(self, epoch: int, epochs: int, loss: float) -> None:
        if self.on_epoch is not None:
            self.on_epoch(epoch, epochs, loss)


class Method:
    """Base class of every registered method.

    Hyperparameters are the keyword arguments of ``__init__``, typed and ranged
    there (``bench.contract.params``). ``search_space`` declares the ones ``bench tune``
    may search; ``score_space`` the parameters of ``scorer`` that
    ``--threshold tuned`` searches with the threshold after fit (both next to
    the defaults they vary). ``published`` holds the figures its paper or seed
    report published (``bench.report.paper_figures``). ``fast_params`` are the settings the contract
    checks fit with: small enough for seconds on a CPU, as scikit-learn's test
    tags and PyOD's test configurations keep them.
    """

    search_space: ClassVar[dict[str, Dim]] = {}
    score_space: ClassVar[dict[str, Dim]] = {}
    fast_params: ClassVar[dict[str, Any]] = {}
    head: ClassVar[str] = "seed001"  # the classification head (bench.scoring.heads) put on ``features``
    published: ClassVar[tuple[Published, ...]] = ()  # figures its paper or seed report published
    # How its results repeat with the same seed (docs/leaderboards.md, "Reproducibility"): "exact"
    # (bit-identical whatever the threads), "tolerance" (sums over threads round differently: far
    # below 1e-3), "chaotic: WHY" (a rounding can flip a discrete choice: read the spread over seeds);
    # "" where nobody has measured it.
    reproducibility: ClassVar[str] = ""
    # contract checks (bench.contract.checks) this method may fail, each with the reason: shown, never hidden
    allowed_failures: ClassVar[dict[str, str]] = {}

    @classmethod
    def hyperparameters(cls) -> dict[str, Hyper]:
        """The declared hyperparameters: type, range and default of each ``__init__`` argument."""
        return declared_from_signature(cls)

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters, read from the ``__init__`` signature (as scikit-learn does)."""
        return {name: getattr(self, name) for name in self.hyperparameters()}

    def effective_params(self) -> dict[str, Any]:
        """The hyperparameters as ``fit`` uses them: logged and keyed, so no ``None`` stands for a
        default chosen later. Methods whose defaults depend on other settings override it."""
        return self.get_params()

    @classmethod
    def unavailable(cls) -> str | None:
        """Why the method cannot run here (e.g. an optional package is missing, with its install
        line), or None. ``bench list`` shows it; a sweep that names the method stops with it."""
        return None

    def extractor(self) -> Extractor | None:
        """The frozen feature extractor whose features ``fit`` and ``score`` take instead of images
        (computed once per dataset and cached by the harness), or None for methods that take images."""
        return None

    def fit(self, train: TrainData, env: Env) -> Method:
        raise NotImplementedError

    def score(self, x: np.ndarray) -> np.ndarray:
        """Anomaly scores, shape ``(n,)``, higher = more anomalous, for images ``(n, c, h, w)``."""
        raise NotImplementedError

    def scorer(self, x: np.ndarray) -> Callable[..., np.ndarray]:
        """Scores of ``x`` as a function of the ``score_space`` parameters, computed once.

        Methods with a ``score_space`` override it so that re-scoring for each
        candidate is cheap; the default has no parameters.
        """
        scores = self.score(x)
        return lambda: scores

    def features(self, x: np.ndarray) -> np.ndarray | None:
        """Encoder features ``(n, d)`` of images, for methods that have an encoder; None otherwise.

        The open-set protocol trains a classification head on them.
        """
        return None

    def encoder(self) -> Any:
        """A trainable copy of the encoder (a ``torch.nn.Module`` from images to ``features``), for
        heads that fine-tune it; None where there is none."""
        return None

    def predict_classes(self, x: np.ndarray) -> np.ndarray | None:
        """Class labels from a method's own classifier, if it trains one (else a head is put on
        ``features``)."""
        return None

    def threshold(self) -> float | None:
        """The method's own decision threshold (anomalous iff score > threshold), if it has one."""
        return None

    def calibrate(self, x: np.ndarray, anomaly: np.ndarray) -> None:
        """Set the threshold from labeled validation images, for methods whose rule needs them.

        The harness calls it after ``fit`` only on methods that override it, with
        the protocol's validation split (never test data), and records the
        threshold as ``val-tuned``.
        """

    def fit_metrics(self) -> dict[str, float]:
        """Extra per-cell figures a method reports about its fit (epochs run, ...)."""
        return {}

    def fit_curves(self) -> dict[str, dict[int, float]]:
        """Series over the fit, by name then step (the epoch; 0 before training): the loss, a
        collapse measure. Each is logged as its metric's history, its last step as the value."""
        return getattr(self, "curves_", {})

    @classmethod
    def calibrates(cls) -> bool:
        return cls.calibrate is not Method.calibrate

    def _check_fitted(self, attribute: str) -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit first")


def flatten(x: np.ndarray) -> np.ndarray:
    """Images ``(n, c, h, w)`` as rows of pixels, for detectors that take vectors."""
    return x.reshape(len(x), -1)


def mean_plus_k_std(scores: np.ndarray, k: float) -> float:
    """The rule ``mean + k * std`` (population std) over training scores."""
    return float(np.mean(scores) + k * np.std(scores))


class MeanKStdThreshold:
    """The rule of seeds 000/001: anomalous iff the score exceeds mean + ``k_std`` std of the training
    images' scores (population std), set once training ends. Mix in before the method's base class."""

    k_std: float

    def after_fit(self, train: TrainData) -> None:
        self.threshold_ = mean_plus_k_std(self.score(train.x), self.k_std)

    def threshold(self) -> float:
        self._check_fitted("threshold_")
        return self.threshold_
