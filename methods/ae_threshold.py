"""Dense autoencoder scored by reconstruction MSE, thresholded at mean + 3 std (seed 001).

Follows seed 001 (2AMM10 assignment 4, group 47): encoder d-32-16-16 with ReLU
after every layer, decoder 16-16-32-d with ReLU and a sigmoid output; MSE
loss; AdamW (lr 1e-2, weight decay 1e-2, betas (0.9, 0.999), eps 1e-8);
batch 64; 20 epochs; score = per-image reconstruction MSE; threshold = mean +
3 std of the training images' errors (anomalous iff the error is larger).

Choices the report leaves open: d is the flattened image size of the dataset
at hand (the report padded FashionMNIST to 32x32, d = 1,024, as bench's
`open-set` protocol does; other protocols keep 28x28, d = 784); the
std is the population std (ddof 0); training minibatches are reshuffled every
epoch; PyTorch's default initialisation. Under ``open-set`` the classifier is
seed 001's 16-32-32-(5+1) head on the 16-d code, trained with the encoder
(``bench/scoring/heads.py``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from bench.api import (
    Batch,
    Choice,
    Count,
    DeepMethod,
    Float,
    Int,
    MeanKStdThreshold,
    NonNegative,
    Positive,
    Published,
    Space,
    Widths,
    dense,
    register_method,
)

SEED, NET = "seed 001 (2AMM10 assignment 4, group 47)", "its dense autoencoder, 32x32"


@register_method("ae-threshold", family="autoencoder", paper="seed 001")
class ThresholdAE(MeanKStdThreshold, DeepMethod):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        Published("fashion-mnist", "open-set", "accuracy", 0.96, SEED, "Table 3, both test sets", NET),
        Published("fashion-mnist", "open-set", "threshold", 0.04, SEED, "section 4.2, mean + 3 std", NET),
        *(
            Published(
                "fashion-mnist", "open-set", metric, value, SEED, f"{table}, test set {unit + 1}", NET, unit
            )
            for unit, (f1, accepted) in enumerate(((0.58, 0.90), (0.56, 0.93)))
            for metric, value, table in (
                ("f1", f1, "Table 3"),
                ("class_accuracy_accepted", accepted, "Table 4"),
            )
        ),
    )
    search_space: ClassVar[Space] = {
        "hidden": Choice(((32, 16, 16), (64, 32, 16), (128, 64, 32), (256, 64, 16), (64, 32))),
        "lr": Float(1e-4, 3e-2, log=True),
        "weight_decay": Float(1e-6, 1e-1, log=True),
        "batch_size": Int(16, 256, log=True),
    }
    fast_params: ClassVar[dict] = {"epochs": 3}

    def __init__(
        self,
        *,
        hidden: Widths = (32, 16, 16),
        epochs: Count = 20,
        batch_size: Count = 64,
        lr: Positive = 1e-2,
        weight_decay: NonNegative = 1e-2,
        k_std: NonNegative = 3.0,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.k_std = k_std

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        d = int(torch.tensor(image_shape).prod())
        sizes = [d, *self.hidden]
        decoder = dense(sizes[::-1], nn.Sigmoid())  # built first: the initialisation draws in this order
        return nn.Sequential(nn.Flatten(), *dense(sizes, nn.ReLU()), *decoder)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            model.parameters(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            betas=(0.9, 0.999),
            eps=1e-8,
        )

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return nn.functional.mse_loss(model(batch.x), batch.x.flatten(1))

    def evaluating_forward(self, model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return ((model(xb) - xb.flatten(1)) ** 2).mean(dim=1)

    def encoding_forward(self, model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        """The code after the encoder's last ReLU (16-d by default), seed 001's classifier input."""
        return model[: 1 + 2 * len(self.hidden)](xb)
