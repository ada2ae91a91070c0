"""GEOM: a classifier of geometric transformations whose softmax judges normality (Golan & El-Yaniv 2018).

Follows "Deep Anomaly Detection Using Geometric Transformations" and its
authors' code: every training image of the normal class is transformed by
each of a set of geometric transformations (``geom72``: horizontal flip or
not, x and y translations of 0 or +-8 pixels with reflected borders, and the
four rotations by 90 degrees: 72), and a Wide ResNet learns which one was
applied (cross-entropy over the (image, transformation) pairs; Adam lr 1e-3,
batch 128, ceil(200 / 72) = 3 epochs over the pairs, L2 weight decay 0.5 x
5e-4 on every weight as in the code). Images are zero-padded 28x28 -> 32x32
and scaled to [-1, 1]. Score: the Dirichlet normality score: for each
transformation t a Dirichlet is fitted (fixed-point MLE) to the softmax
outputs of the transformed training images, and an image's normality is the
mean over t of sum_j (alpha_tj - 1) log p_j(T_t(x)); bench's anomaly score is
its negative. ``normality="log_prob"`` is the paper's simpler score, the mean
log-probability of the right transformation.

Presets: ``arch="wrn10-4"`` with ``transforms="geom72"`` is the code's
network for every dataset but cats-vs-dogs (WRN-10-4; ``wrn16-8`` is the one
it used there and the paper names), on a GPU. The default, ``arch="small"``
with ``transforms="rot-flip"`` (the code's SimpleTransformer: flips x 4
rotations, 8 transformations) and 3 epochs over the pairs, is a 3-layer CNN
(32, 64, 128 channels, batch norm, global average pooling) sized for a
2-core CPU. Bench's choices: translations reflect with edge repetition
(scipy's and Keras' "reflect"); images whose side is not a multiple of 8 are
zero-padded to one (28 -> 32 as in the code); the translation is a quarter
of the padded side (8 at 32).
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal

import numpy as np
import torch
from scipy.special import polygamma, psi
from torch import nn
from torch.nn import functional as F

from bench.api import (
    Choice,
    Count,
    Env,
    Float,
    Method,
    NonNegative,
    Positive,
    Published,
    Space,
    TrainData,
    in_batches,
    register_method,
)


def transformations(kind: str) -> list[tuple[bool, int, int, int]]:
    """(flip, x shift in quarters of the side, y shift, quarter turns), in the code's order."""
    if kind == "rot-flip":
        return [(f, 0, 0, k) for f, k in itertools.product((False, True), range(4))]
    return list(itertools.product((False, True), (0, -1, 1), (0, -1, 1), range(4)))


def _reflect_index(n: int, shift: int) -> torch.Tensor:
    """Source positions for a shift by ``shift`` with borders reflected (d c b a | a b c d)."""
    j = torch.arange(n) - shift
    j = torch.where(j < 0, -j - 1, j)
    return torch.where(j >= n, 2 * n - j - 1, j)


def transform(x: torch.Tensor, t: tuple[bool, int, int, int]) -> torch.Tensor:
    flip, tx, ty, k = t
    if flip:
        x = x.flip(-1)
    step = x.shape[-1] // 4
    if tx:
        x = x.index_select(-1, _reflect_index(x.shape[-1], tx * step).to(x.device))
    if ty:
        x = x.index_select(-2, _reflect_index(x.shape[-2], ty * step).to(x.device))
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


class _Block(nn.Module):
    """The code's pre-activation basic block: BN-ReLU-conv3x3, BN-ReLU-conv3x3, plus the shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.short = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return out + (x if self.short is None else self.short(a))


def wide_resnet(channels: int, n_out: int, depth: int, widen: int) -> nn.Module:
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)]
    for group, stride in zip(range(1, 4), (1, 2, 2), strict=True):
        for i in range(n):
            layers.append(
                _Block(widths[group - 1] if i == 0 else widths[group], widths[group], stride if i == 0 else 1)
            )
    layers += [
        nn.BatchNorm2d(widths[3]),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(widths[3], n_out),
    ]
    net = nn.Sequential(*layers)
    for m in net.modules():  # the code's initialisers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            bound = 1 / np.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
    return net


def small_cnn(channels: int, n_out: int) -> nn.Module:
    layers: list[nn.Module] = []
    for cin, cout in itertools.pairwise((channels, 32, 64, 128)):
        layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        layers += [nn.MaxPool2d(2)] if cout != 128 else []
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_out))


def dirichlet_mle(p: np.ndarray, max_iter: int = 1000) -> np.ndarray:
    """The code's fixed-point MLE of Dirichlet parameters from observations ``p`` (n, K) on the simplex."""
    p = np.clip(p, 1e-12, 1.0)
    n, k = p.shape
    f, log_p_hat = p.mean(axis=0), np.log(p).mean(axis=0)
    alpha_sum = n * (k - 1) * -psi(1) / (n * np.sum(f * np.log(f)) - np.sum(f * np.log(p).sum(axis=0)))
    alpha = f * alpha_sum
    for _ in range(max_iter):
        new = _inv_psi(psi(alpha.sum()) + log_p_hat)
        if np.sqrt(np.sum((alpha - new) ** 2)) < 1e-9:
            return new
        alpha = new
    return alpha


def _inv_psi(y: np.ndarray, iters: int = 5) -> np.ndarray:
    cond = y >= -2.22
    x = cond * (np.exp(y) + 0.5) + (1 - cond) * -1 / (y - psi(1))
    for _ in range(iters):
        x = x - (psi(x) - y) / polygamma(1, x)
    return x


PAPER, NET = "Golan & El-Yaniv 2018 (GEOM, NeurIPS)", "WRN-10-4 over 72 transformations, 32x32"


@register_method("geom", family="self-supervised", paper="Golan & El-Yaniv 2018 (GEOM)")
class Geom(Method):
    reproducibility: ClassVar[str] = "exact"  # measured: docs/leaderboards.md, "Reproducibility"
    published: ClassVar[tuple[Published, ...]] = (
        Published(
            "fashion-mnist",
            "one-class",
            "auroc",
            0.935,
            PAPER,
            "Table 1, mean over the 10 classes",
            NET,
            setting=(("arch", "wrn10-4"), ("transforms", "geom72")),
        ),
        *(
            Published(
                dataset,
                "one-class",
                "auroc",
                value,
                PAPER,
                f"Table 1, mean over the {what}",
                NET,
                setting=(("arch", "wrn10-4"), ("transforms", "geom72")),
            )
            for dataset, value, what in (
                ("cifar10", 0.860, "10 classes"),
                ("cifar100", 0.787, "20 superclasses"),
            )
        ),
    )
    search_space: ClassVar[Space] = {
        "lr": Float(1e-4, 1e-2, log=True),
        "normality": Choice(),  # the values its Literal declares
    }
    fast_params: ClassVar[dict] = {"epochs": 1, "batch_size": 64}

    def __init__(
        self,
        *,
        arch: Literal["small", "wrn10-4", "wrn16-8"] = "small",
        transforms: Literal["rot-flip", "geom72"] = "rot-flip",
        epochs: Count = 3,
        batch_size: Count = 128,
        lr: Positive = 1e-3,
        weight_decay: NonNegative = 5e-4,
        normality: Literal["dirichlet", "log_prob"] = "dirichlet",
    ) -> None:
        self.arch = arch
        self.transforms = transforms
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.normality = normality

    def _prepare(self, x: np.ndarray) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % 8, -w % 8
        x = np.pad(x, ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))
        return torch.as_tensor(2 * x - 1, dtype=torch.float32, device=self.device_)

    def _network(self, channels: int) -> nn.Module:
        n = len(self.ts_)
        if self.arch == "small":
            return small_cnn(channels, n)
        depth, widen = (int(v) for v in self.arch.removeprefix("wrn").split("-"))
        return wide_resnet(channels, n, depth, widen)

    def fit(self, train: TrainData, env: Env) -> Geom:
        torch.manual_seed(env.seed)
        self.device_ = torch.device(env.device)
        self.ts_ = transformations(self.transforms)
        x = self._prepare(train.x)
        model = self._network(x.shape[1]).to(self.device_)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(env.seed)
        n_t = len(self.ts_)
        model.train()
        for epoch in range(1, self.epochs + 1):  # every (image, transformation) pair once an epoch
            order = torch.randperm(len(x) * n_t, generator=gen)
            total = 0.0
            for start in range(0, len(order), self.batch_size):
                pairs = order[start : start + self.batch_size]
                images, targets = self._transformed(x, pairs // n_t, pairs % n_t)
                loss = F.cross_entropy(model(images), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(pairs)
            env.report_epoch(epoch, self.epochs, total / len(order))
        self.model_ = model.eval()
        self.alpha_ = [dirichlet_mle(p) for p in self._softmax(x)] if self.normality == "dirichlet" else None
        return self

    def _transformed(
        self, x: torch.Tensor, image: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of pairs: each image under its transformation, grouped by transformation."""
        parts, targets = [], []
        for k in t.unique().tolist():
            chosen = image[t == k].to(self.device_)
            parts.append(transform(x[chosen], self.ts_[k]))
            targets.append(torch.full((len(chosen),), k, dtype=torch.long, device=self.device_))
        return torch.cat(parts), torch.cat(targets)

    @torch.no_grad()
    def _softmax(self, x: torch.Tensor) -> list[np.ndarray]:
        """For each transformation, the softmax outputs (n, T) of every image transformed by it."""
        return [
            in_batches(lambda xb, t=t: self.model_(transform(xb, t)).softmax(1), x, 1024)
            .double()
            .cpu()
            .numpy()
            for t in self.ts_
        ]

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("model_")
        outputs = self._softmax(self._prepare(x))
        if self.alpha_ is not None:
            normal = [
                np.log(np.clip(p, 1e-12, 1)) @ (a - 1) for p, a in zip(outputs, self.alpha_, strict=True)
            ]
        else:
            normal = [np.log(np.clip(p[:, k], 1e-12, 1)) for k, p in enumerate(outputs)]
        return -np.mean(normal, axis=0)
