"""CNN binary classifier with class weights, scored by P(anomaly) (seed 002).

Follows seed 002 (anomaly detection on MNIST digits with an imbalanced
Kaggle split): conv 5x5 then conv 3x3, each with ReLU and 2x2 max-pooling;
dense 256 and 128 with ReLU and dropout 0.2; one sigmoid output; binary
cross-entropy with class weights total / (2 * count) per class (the report's
formula), computed on the training data; Adam; early stopping on a
validation loss; at most 10 epochs; batch 32; the report's 50% validation
split. Score: P(anomaly). Threshold: 0.5. Needs labeled anomalies.

Choices the report leaves open: 32 and 64 filters; "same" padding (so 8x8
digits survive two poolings); dropout after each dense layer; Adam at Keras'
default lr 1e-3; patience 3; the weighted loss also on the validation half;
the best epoch's weights are restored.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from bench.api import (
    ANOMALY_LABELS,
    Annotated,
    Batch,
    Choice,
    Count,
    DeepMethod,
    Env,
    Float,
    Fraction,
    Int,
    Published,
    Range,
    Space,
    TrainData,
    register_method,
)


class SmallCNN(nn.Module):
    def __init__(self, channels: int, h: int, w: int, filters: tuple[int, int], dropout: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, filters[0], 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(filters[0], filters[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        flat = filters[1] * (h // 4) * (w // 4)
        self.head = nn.Sequential(
            nn.Linear(flat, 256), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(256, 128), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(128, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)  # logits


@register_method("cnn-weighted", needs={ANOMALY_LABELS}, family="classifier", paper="seed 002")
class WeightedCNN(DeepMethod):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "mnist",
            "supervised",
            "auroc",
            0.966,
            "seed 002 (a Kaggle anomaly detection report)",
            "conclusion: the Kaggle ROC score (5,923 zeros + 504 other digits, 1,070 test images)",
            "its CNN (conv 5x5 and 3x3, dense 256 and 128), 28x28",
            unit=0,
            stand_ins=("mnist-5k",),
        ),
    )
    search_space: ClassVar[Space] = {
        "filters": Choice(((16, 32), (32, 64), (64, 128))),
        "dropout": Float(0.0, 0.5),
        "lr": Float(1e-4, 1e-2, log=True),
        "batch_size": Int(16, 256, log=True),
    }
    fast_params: ClassVar[dict] = {"epochs": 2}

    def __init__(
        self,
        *,
        filters: Annotated[tuple[int, int], Range(ge=1)] = (32, 64),
        dropout: Annotated[float, Range(ge=0, lt=1)] = 0.2,
        epochs: Count = 10,
        patience: Count | None = 3,
        holdout: Fraction = 0.5,
        batch_size: Count = 32,
        lr: Annotated[float, Range(gt=0)] = 1e-3,
    ) -> None:
        self.filters = filters
        self.dropout = dropout
        self.epochs = epochs
        self.patience = patience
        self.holdout = holdout
        self.batch_size = batch_size
        self.lr = lr

    def fit(self, train: TrainData, env: Env) -> WeightedCNN:
        if train.anomaly is None or len(set(train.anomaly.tolist())) < 2:
            raise ValueError("cnn-weighted needs training images of both classes, labeled")
        total, anomalies = len(train.anomaly), float(train.anomaly.sum())
        self.class_weights_ = (total / (2 * (total - anomalies)), total / (2 * anomalies))
        return super().fit(train, env)

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        return SmallCNN(*image_shape, tuple(self.filters), self.dropout)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.lr)

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        w0, w1 = self.class_weights_
        weights = torch.where(batch.anomaly > 0.5, w1, w0)
        return F.binary_cross_entropy_with_logits(model(batch.x), batch.anomaly, weight=weights)

    def evaluating_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(x).double())  # float64: P(anomaly) ties less often at 1.0

    def threshold(self) -> float:
        self._check_fitted("model_")
        return 0.5
