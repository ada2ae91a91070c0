"""VAE whose codes are clustered and labeled by an annotation oracle, with a joint classifier (seed 004).

Follows seed 004 ("Image Classification using Unlabelled Data - A
Semisupervised Approach using Variational Autoencoder and Top-down
Hierarchical Clustering"): a dense VAE with four encoder layers (the third of
32 units) and four decoder layers (sigmoid output), a K-way softmax layer on
the code, loss BCE (sum) + beta KL with beta = 5; batch 64, 5 epochs. After
the first (unsupervised) epochs the training codes are clustered with
k-means (k by the elbow of the inertia curve, or given), each cluster centre
is labeled once by an annotator, every training image takes its cluster's
label with weight w = p_c * exp(-a * d) (d: distance to its centre, p_c: the
annotator's confidence), and training continues with L_VAE - gamma * sum w y
log y_hat. Anomaly score: the per-image loss BCE + beta KL (the objective the
model minimises), threshold mean + 3 std of the training scores, as vae-elbo.

The annotator is an oracle standing in for the report's human: it labels a
centre with the class of the labeled image (the protocol's labeled set)
whose code is nearest the centre, and each answer counts as one annotation
(``annotations`` metric; the number of distinct labeled images it consulted
is ``annotated_images``). The clustering and labeling repeat after every
epoch from ``warmup`` on but the last, whose labels would train nothing, as
the issue asks (the report: every 300 steps).

Choices the report leaves open: the first two layer widths (256, 128), the
code size (10, where the report saw accuracy level off), Adam lr 1e-3,
gamma = 100 (the VAE term sums BCE over all pixels, a few hundred per image,
while the cross-entropy is of order 1: with gamma = 1 the classifier fitted
its own cluster labels worse than the labels were, measured on FashionMNIST),
one unsupervised warm-up epoch, at least ``min_steps`` = 2,000 optimiser
steps (what 5 epochs of the 26,000-image open-set pool at batch 64 take on
FashionMNIST; the report's 5 epochs of 59,872 MNIST images were 4,680): on a
smaller dataset each epoch of the schedule becomes as many passes as reach
them, and the clustering rounds stay after each of the schedule's epochs
(5 epochs of digits' 591 images are 50 steps, after which the VAE's codes
classified at 0.20-0.41); beta counted per 1,024 pixels (``beta_pixels``: the
report's 28x28 images as the open-set protocol pads them, whose blank border
adds next to nothing to the summed BCE; on d pixels the KL weight is
beta x d / 1,024, so reconstruction and KL keep the report's balance: with
beta = 5 on digits' 144 pixels the KL drowned the reconstruction and
classification was 0.27-0.67 by seed, 0.62-0.73 with the balance kept;
``beta_pixels=None`` uses beta as given), p_c = 1 (the oracle is certain;
the report's re-splitting of ambiguous clusters is not modelled), a = 1 /
the mean distance of images to their centres, k-means with 3 restarts, and
the elbow as the k in 2..30 farthest below the chord of the inertia curve.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn
from torch.nn import functional as F

from bench.api import (
    LABELED_SET,
    Annotated,
    Batch,
    Count,
    DeepMethod,
    Env,
    Float,
    Int,
    MeanKStdThreshold,
    NonNegative,
    Plan,
    Positive,
    Range,
    Space,
    TrainData,
    Widths,
    dense,
    gaussian_kl,
    in_batches,
    register_method,
)

ELBOW_RANGE = range(2, 31)


class ClusterVAE(nn.Module):
    def __init__(self, d: int, widths: tuple[int, ...], latent: int, n_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(dense([d, *widths]), nn.ReLU())
        self.mu, self.log_sigma = nn.Linear(widths[-1], latent), nn.Linear(widths[-1], latent)
        self.decoder = dense([latent, *widths[::-1], d], nn.Sigmoid())
        self.classifier = nn.Linear(latent, n_classes)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(1))
        return self.mu(h), self.log_sigma(h)


def elbow(inertias: list[float]) -> int:
    """Index of the point farthest below the straight line from the first to the last inertia."""
    y = np.asarray(inertias, dtype=np.float64)
    x = np.arange(len(y), dtype=np.float64)
    chord = y[0] + (y[-1] - y[0]) * x / max(x[-1], 1)
    return int(np.argmax(chord - y))


@register_method("vae-cluster", needs={LABELED_SET}, family="autoencoder", paper="seed 004")
class VaeCluster(MeanKStdThreshold, DeepMethod):
    # measured: docs/leaderboards.md, "Reproducibility"
    reproducibility: ClassVar[str] = (
        "chaotic: k-means over the codes, where a rounding can move an image to another cluster"
    )
    search_space: ClassVar[Space] = {
        "latent_dim": Int(4, 32, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "gamma": Float(1.0, 1000.0, log=True),
        "beta": Float(1.0, 10.0, log=True),
    }
    fast_params: ClassVar[dict] = {"epochs": 3, "clusters": 2, "min_steps": None}  # no stretching

    def __init__(
        self,
        *,
        widths: Widths = (256, 128, 32),
        latent_dim: Count = 10,
        beta: NonNegative = 5.0,
        gamma: NonNegative = 100.0,
        clusters: Count | None = None,
        warmup: Annotated[int, Range(ge=0)] = 1,
        epochs: Count = 5,
        batch_size: Count = 64,
        lr: Positive = 1e-3,
        k_std: NonNegative = 3.0,
        min_steps: Count | None = 2000,
        beta_pixels: Count | None = 1024,
    ) -> None:
        self.widths = widths
        self.latent_dim = latent_dim
        self.beta = beta
        self.gamma = gamma
        self.clusters = clusters
        self.warmup = warmup
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.k_std = k_std
        self.min_steps = min_steps
        self.beta_pixels = beta_pixels

    def training_plan(self) -> Plan:
        return Plan(self.epochs, self.batch_size, patience=None, min_steps=self.min_steps)

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        d = int(np.prod(image_shape))
        self.beta_ = self.beta * d / self.beta_pixels if self.beta_pixels else self.beta
        return ClusterVAE(d, tuple(self.widths), self.latent_dim, len(self.known_))

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.lr)

    def _vae_loss(self, model: nn.Module, x: torch.Tensor, sample: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image BCE + beta KL, and the code mean."""
        mu, log_sigma = model.encode(x)
        z = mu + log_sigma.exp() * torch.randn_like(mu) if sample else mu
        recon = model.decoder(z)
        bce = F.binary_cross_entropy(recon, x.flatten(1), reduction="none").sum(1)
        return bce + self.beta_ * gaussian_kl(mu, log_sigma), mu

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        loss, mu = self._vae_loss(model, batch.x, sample=True)
        total = loss.mean()
        if self.targets_ is not None:
            target, weight = self.targets_[0][batch.index], self.targets_[1][batch.index]
            ce = F.cross_entropy(model.classifier(mu), target, reduction="none")
            total = total + self.gamma * (weight * ce).mean()
        return total

    def evaluating_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return self._vae_loss(model, x, sample=False)[0]

    def encoding_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model.encode(x)[0]

    def fit(self, train: TrainData, env: Env) -> VaeCluster:
        if train.labeled_x is None or len(train.labeled_x) == 0:
            raise ValueError("vae-cluster needs the protocol's labeled set for its annotation oracle")
        self.known_ = sorted(int(c) for c in np.unique(train.labeled_classes))
        self.targets_ = None
        self.annotations_, self.consulted_ = 0, set()
        self.rng_ = np.random.default_rng(env.seed)
        return super().fit(train, env)

    @torch.no_grad()
    def after_epoch(self, model: nn.Module, data: Batch, train: TrainData, epoch: int) -> None:
        stretch = self.epochs_planned_ // self.epochs  # > 1 where min_steps stretched the schedule
        if epoch % stretch:
            return
        epoch //= stretch  # the report's epoch
        if epoch < self.warmup or epoch >= self.epochs:
            return  # labels after the last epoch would train nothing: no annotations spent on them
        model.eval()
        codes = in_batches(lambda xb: model.encode(xb)[0], data.x).cpu().numpy()
        labeled = torch.as_tensor(train.labeled_x, dtype=torch.float32, device=data.x.device)
        labeled_codes = model.encode(labeled)[0].cpu().numpy()
        k = self.clusters or self._elbow_k(codes)
        km = KMeans(k, n_init=3, random_state=int(self.rng_.integers(2**31))).fit(codes)
        # The oracle: each centre takes the class of the nearest labeled image; one annotation each.
        nearest = ((km.cluster_centers_[:, None, :] - labeled_codes[None]) ** 2).sum(-1).argmin(1)
        self.annotations_ += k
        self.consulted_.update(int(i) for i in nearest)
        centre_class = np.array([self.known_.index(int(train.labeled_classes[i])) for i in nearest])
        distance = np.linalg.norm(codes - km.cluster_centers_[km.labels_], axis=1)
        a = 1.0 / max(float(distance.mean()), 1e-12)
        weight = np.exp(-a * distance)  # p_c = 1
        device = data.x.device
        self.targets_ = (
            torch.as_tensor(centre_class[km.labels_], dtype=torch.long, device=device),
            torch.as_tensor(weight, dtype=torch.float32, device=device),
        )
        self.k_ = k

    def _elbow_k(self, codes: np.ndarray) -> int:
        sample = codes[self.rng_.permutation(len(codes))[:5000]]
        inertias = [KMeans(k, n_init=1, random_state=0).fit(sample).inertia_ for k in ELBOW_RANGE]
        return ELBOW_RANGE[elbow(inertias)]

    @torch.no_grad()
    def predict_classes(self, x: np.ndarray) -> np.ndarray:
        """The joint classifier's class for each image (dataset class labels)."""
        mu = self.features(x)
        logits = self.model_.classifier(torch.as_tensor(mu, dtype=torch.float32, device=self.device_))
        return np.asarray(self.known_)[logits.argmax(1).cpu().numpy()]

    def fit_metrics(self) -> dict[str, float]:
        return {
            **super().fit_metrics(),
            "annotations": float(self.annotations_),
            "annotated_images": float(len(self.consulted_)),
            "clusters": float(getattr(self, "k_", 0)),
        }
