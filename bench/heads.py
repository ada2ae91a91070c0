"""Classification heads trained on a fitted method's encoder features (open-set protocols).

The two heads are the seed reports': seed 000 puts 30-200-5 (ReLU, softmax) on
its VAE's mean code; seed 001 puts 16-32-32-(5+1) (ReLU, softmax) on its AE's
code, the sixth output standing for "unknown", which training never targets.
Both reports apply a softmax layer and then PyTorch's cross-entropy (itself a
softmax); seed 001's reported cross-entropy of about 1.1 is what this double
softmax gives at its floor (-log(e / (e + 5)) = 1.04), so both heads keep it.
The encoder is frozen: the reports' wording ("the embeddings learned by the
autoencoder") does not say it is fine-tuned, and frozen features let every
encoder-based method be compared on the same footing.

Choices the reports leave open: seed 000 names no optimiser, batch or epochs,
so its head uses seed 001's (AdamW lr 1e-3, weight decay 1e-2, batch 32, 30
epochs); features are standardised with the labeled set's mean and std.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class HeadSpec:
    hidden: tuple[int, ...]
    unknown_output: bool
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 32
    epochs: int = 30
    double_softmax: bool = True


HEADS = {
    "seed000": HeadSpec(hidden=(200,), unknown_output=False),
    "seed001": HeadSpec(hidden=(32, 32), unknown_output=True),
}


class Head(nn.Module):
    def __init__(self, spec: HeadSpec, d: int, n_classes: int) -> None:
        super().__init__()
        sizes = [d, *spec.hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_classes + int(spec.unknown_output)))
        self.net = nn.Sequential(*layers)
        self.double_softmax = spec.double_softmax

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.net(z)
        return logits.softmax(dim=1) if self.double_softmax else logits


@dataclass
class TrainedHead:
    model: Head
    mean: np.ndarray
    std: np.ndarray
    device: str

    @torch.no_grad()
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class indices 0..K-1, or K for the "unknown" output where the head has one."""
        z = torch.as_tensor((features - self.mean) / self.std, dtype=torch.float32, device=self.device)
        self.model.eval()
        return self.model(z).argmax(dim=1).cpu().numpy()


def train_head(
    spec: HeadSpec, features: np.ndarray, labels: np.ndarray, n_classes: int, seed: int, device: str
) -> TrainedHead:
    """Train a head on (features, class index) pairs; seeded, batches drawn on the device."""
    torch.manual_seed(seed)
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    z = torch.as_tensor((features - mean) / std, dtype=torch.float32, device=device)
    y = torch.as_tensor(labels, dtype=torch.long, device=device)
    model = Head(spec, z.shape[1], n_classes).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(spec.epochs):
        order = torch.randperm(len(z), generator=gen).to(device)
        for i in range(0, len(z), spec.batch_size):
            idx = order[i : i + spec.batch_size]
            loss = nn.functional.cross_entropy(model(z[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return TrainedHead(model, mean, std, device)
