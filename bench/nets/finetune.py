"""Pretrained backbones fine-tuned on the normal class and scored by kNN over their features.

The shared half of PANDA-like methods: the backbone at its resolution with
its early stages frozen, kept in eval mode, its features of the training
images taken once training ends, and the kNN score over them. A method adds
its loss, optimiser and anything it fixes before training (a centre).

Where the frozen stages see the images as they are (no augmentation), they
are a fixed function of each image: the method declares them as its
``Extractor`` and the harness computes their activation maps once per image
and caches them beside ``dn2``'s features; training and scoring then run
only the stages that learn. Given images instead (a direct call), the
method runs its stem itself first: the same numbers either way.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from bench.contract.method import Env
from bench.data.dataset import TrainData
from bench.nets import backbones
from bench.nets.features import Extractor, extract, knn_score
from bench.nets.training import Batch, DeepMethod, Plan, in_batches

FEATURE_BATCH = 256  # images per forward pass when taking features: bounded memory at any resolution
PROBE = 1024  # the normal training images whose features the collapse measures follow


class EvalMode(nn.Module):
    """A network that stays in eval mode when the training loop asks for train mode, as the authors'
    codes fine-tune it: batch norm keeps its pretrained statistics."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def train(self, mode: bool = True) -> EvalMode:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FineTunedKNN(DeepMethod):
    """Subclasses set ``backbone``, ``resolution``, ``k``, ``epochs`` and ``batch_size`` and define
    ``make_optimizer`` and ``training_forward`` over ``self.trainable_``."""

    backbone: str
    resolution: int
    k: int
    frozen_before_stride: ClassVar[int] = 16  # ResNet's conv1 to layer2, as PANDA's and MSC's codes
    bf16: ClassVar[bool] = False
    # Whether the frozen stages see the images unaugmented, so that their output can be cached
    # (PANDA); a method that augments its inputs (MSC) sets it False and runs the whole net.
    frozen_input: ClassVar[bool] = True

    @classmethod
    def unavailable(cls) -> str | None:
        return backbones.BACKBONES["efficientnet-lite0"].missing()  # the default; others name their wheel

    def training_plan(self) -> Plan:
        return Plan(self.epochs, self.batch_size)

    def wrap(self, features: nn.Module) -> nn.Module:
        """The trained model around the backbone's features (e.g. scaling them to unit length)."""
        return EvalMode(features)

    def extractor(self) -> Extractor | None:
        if not self.frozen_input:
            return None
        return Extractor(self.backbone, self.resolution, until_stride=self.frozen_before_stride)

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        features = backbones.build(self.backbone, self.resolution, "cpu")
        self.trainable_ = backbones.freeze_before_stride(features, self.frozen_before_stride)
        if not self.frozen_input:
            return self.wrap(features)
        blocks = backbones.blocks_before_stride(features, self.frozen_before_stride)
        return self.wrap(backbones.Tail(features, blocks))  # its input: the stem's maps

    def fit(self, train: TrainData, env: Env) -> FineTunedKNN:
        self.device_ = env.device
        return super().fit(dataclasses.replace(train, x=self._stem_maps(train.x)), env)

    def _stem_maps(self, x: np.ndarray) -> np.ndarray:
        """What the trained model takes: the frozen stem's maps (from the harness's cache, or made
        here from images), or the images themselves where nothing is cached."""
        extractor = self.extractor()
        if extractor is None or not extractor.takes(x):
            return x
        return extract(extractor, x, str(self.device_))

    @torch.no_grad()
    def mean_feature(self, model: nn.Module, data: Batch) -> torch.Tensor:
        return in_batches(model, data.x, FEATURE_BATCH).mean(dim=0)

    @torch.no_grad()
    def measures(self, model: nn.Module, data: Batch) -> dict[str, float]:
        """Collapse, followed over the epochs on the first ``PROBE`` normal training images: the
        features' variance (mean over dimensions; the loss falls with it) and their effective rank,
        (sum of the covariance's eigenvalues)^2 / (sum of their squares). A uniform shrink keeps the
        rank and leaves the kNN ranking as it was; a collapse onto a few directions lowers it."""
        features = in_batches(model, data.x[:PROBE], FEATURE_BATCH).double()
        eigen = torch.linalg.svdvals(features - features.mean(dim=0)).pow(2) / max(len(features) - 1, 1)
        return {
            "feature_variance": float(eigen.sum() / features.shape[1]),
            "feature_rank": float(eigen.sum().pow(2) / eigen.pow(2).sum().clamp_min(1e-300)),
        }

    def after_fit(self, train: TrainData) -> None:
        self.train_features_ = self._features(train.x)

    @torch.no_grad()
    def _features(self, x: np.ndarray) -> torch.Tensor:
        self._check_fitted("model_")
        xt = torch.as_tensor(self._stem_maps(x), dtype=torch.float32, device=self.device_)
        return in_batches(self.model_, xt, FEATURE_BATCH)

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("train_features_")
        return knn_score(self._features(x), self.train_features_, self.k).double().cpu().numpy()
