"""Convolutional autoencoder scored by reconstruction MSE and a latent KDE (seed 003, baseline 1).

Follows seed 003 (Pontiggia, "Anomaly Detection on FashionMNIST", 2023), baseline 1,
after "Robust Anomaly Detection in Images using Adversarial Autoencoders": a
conv AE whose encoder has three conv layers with ReLU (k3 s2, k3 s2, then a
kernel spanning the remaining 7x7) down to a 1x1x64 code, and a decoder of
three transposed convs (ReLU, ReLU, sigmoid); MSE loss; Adam lr 1e-4, weight
decay 1e-5; batch 512; early stopping with patience 3, up to 100 epochs.
Two anomaly signals: the per-image reconstruction MSE, and the Gaussian kernel
density of the image's code under the training codes.

Combined score (the report thresholds both signals with one shared value, so
they must live on one scale): each signal is standardised with the mean and
std it has on the training images, the density enters as its negative log,
and score = ``mix`` * z(MSE) + (1 - ``mix``) * z(-log KDE). ``mix`` and
the bandwidth are tunable: ``mix`` after fit with the threshold
(``score_space``), both by ``bench tune`` (``search_space``).

Threshold: the report's rule, chosen on the validation split (normal and
anomalous images): the value that classifies the most validation images
correctly, shared by both signals through the combined score.

Choices the report leaves open: the bandwidth (``bandwidth_scale`` times the
median distance between training codes, the median heuristic; default scale
1); the KDE reference set (at most ``kde_reference`` training codes drawn with
the run's seed, to bound cost);
early stopping holds out 10% of the training images (``holdout``) and restores the best
epoch's weights; channel widths 32 and 64 before the 64-d code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bench.api import (
    Annotated,
    Batch,
    Count,
    DeepMethod,
    Float,
    Fraction,
    Int,
    NonNegative,
    Positive,
    Published,
    Range,
    Space,
    TrainData,
    check_square,
    conv_autoencoder,
    in_batches,
    max_accuracy_threshold,
    register_method,
)


class ConvAE(nn.Module):
    def __init__(self, channels: int, size: int, code: int) -> None:
        super().__init__()
        self.encoder, self.decoder = conv_autoencoder(channels, size, code=code)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return self.decoder(z), z.flatten(1)


@register_method("ae-kde", family="autoencoder", paper="seed 003 baseline 1")
class KdeAE(DeepMethod):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        *(
            Published(
                "fashion-mnist",
                "leave-one-out",
                metric,
                value,
                "seed 003 (Pontiggia 2023)",
                "section 5.5, baseline 1's results",
                "its conv autoencoder, 28x28",
                unit=5,
            )
            for metric, value in (("auroc", 0.99), ("f1", 0.49))
        ),
    )
    search_space: ClassVar[Space] = {
        "latent_dim": Int(16, 128, log=True),
        "lr": Float(1e-5, 1e-3, log=True),
        "weight_decay": Float(1e-7, 1e-3, log=True),
        "batch_size": Int(64, 512, log=True),
        "mix": Float(0.0, 1.0),
        "bandwidth_scale": Float(0.05, 20.0, log=True),
    }
    score_space: ClassVar[Space] = {"mix": Float(0.0, 1.0)}
    fast_params: ClassVar[dict] = {"epochs": 3, "batch_size": 64}

    def __init__(
        self,
        *,
        latent_dim: Count = 64,
        epochs: Count = 100,
        patience: Count | None = 3,
        holdout: Fraction = 0.1,
        batch_size: Count = 512,
        lr: Positive = 1e-4,
        weight_decay: NonNegative = 1e-5,
        mix: Annotated[float, Range(ge=0, le=1)] = 0.5,
        bandwidth_scale: Positive = 1.0,
        kde_reference: Count = 5000,
    ) -> None:
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.patience = patience
        self.holdout = holdout
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.mix = mix
        self.bandwidth_scale = bandwidth_scale
        self.kde_reference = kde_reference

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        return ConvAE(*check_square(image_shape, "ae-kde"), self.latent_dim)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        recon, _ = model(batch.x)
        return F.mse_loss(recon, batch.x)

    @torch.no_grad()
    def _signals(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction MSE, codes) of a batch."""
        recon, z = self.model_(x)
        return ((recon - x) ** 2).flatten(1).mean(1), z

    def encoding_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The 64-d code; open-set classification puts seed 001's head on it."""
        return model(x)[1]

    def _neg_log_kde(self, z: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(z, self.reference_) ** 2
        return -(torch.logsumexp(-d2 / (2 * self.bandwidth_**2), dim=1) - np.log(len(self.reference_)))

    def after_fit(self, train: TrainData) -> None:
        x = torch.as_tensor(train.x, dtype=torch.float32, device=self.device_)
        mse, codes = in_batches(self._signals, x)
        gen = torch.Generator().manual_seed(self.seed_)
        pick = torch.randperm(len(codes), generator=gen)[: self.kde_reference].to(self.device_)
        self.reference_ = codes[pick]
        d = torch.pdist(self.reference_[:1000])
        self.bandwidth_ = max(self.bandwidth_scale * (float(d.median()) if len(d) else 1.0), 1e-6)
        nll = in_batches(self._neg_log_kde, codes, 2048)
        self.stats_ = [(float(v.mean()), float(v.std()) + 1e-12) for v in (mse, nll)]

    def evaluating_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Both standardised signals, shape (n, 2); ``scorer`` mixes them."""
        mse, z = self._signals(x)
        nll = self._neg_log_kde(z)
        (m0, s0), (m1, s1) = self.stats_
        return torch.stack([(mse - m0) / s0, (nll - m1) / s1], dim=1)

    def scorer(self, x: np.ndarray) -> Callable[..., np.ndarray]:
        parts = super().score(x)

        def mixed(mix: float = self.mix) -> np.ndarray:
            return mix * parts[:, 0] + (1 - mix) * parts[:, 1]

        return mixed

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.scorer(x)()

    def calibrate(self, x: np.ndarray, anomaly: np.ndarray) -> None:
        self.threshold_ = max_accuracy_threshold(self.score(x), anomaly)

    def threshold(self) -> float:
        self._check_fitted("threshold_")
        return self.threshold_
