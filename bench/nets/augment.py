"""Random image augmentations on batches of tensors, for contrastive methods: MoCo v2's recipe.

MoCo v2's (and SimCLR's) torchvision pipeline, as Mean-Shifted Contrastive's
code uses it: a random resized crop (area 0.2 to 1 of the image, aspect 3/4
to 4/3), colour jitter (brightness, contrast and saturation 0.4, hue 0.1)
with probability 0.8, grey with probability 0.2, Gaussian blur (sigma 0.1 to
2 px at 224 px) with probability 0.5, and a horizontal flip with probability
0.5. Here each step works on a whole batch on its device, drawn from a torch
generator, so a seed gives the same views. Where it differs from torchvision:
a crop larger than the image is shrunk to fit instead of redrawn; the jitter
steps run in one order (torchvision shuffles them); the hue turns colours in
YIQ space instead of HSV; the blur's sigma scales with the output resolution.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

GREY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * (high - low) + low).to(device)


def _chance(n: int, p: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) < p).to(device).view(n, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (x * GREY.to(x.device).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def resized_crop(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """A random crop of each image (area 0.2-1, aspect 3/4-4/3), flipped with chance 0.5, at ``size``."""
    n, device = len(x), x.device
    area = _uniform(n, 0.2, 1.0, gen, device)
    aspect = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), gen, device))
    w, h = (area * aspect).sqrt().clamp(max=1.0), (area / aspect).sqrt().clamp(max=1.0)
    cx, cy = (_uniform(n, -1, 1, gen, device) * (1 - w)), (_uniform(n, -1, 1, gen, device) * (1 - h))
    flip = torch.where(_chance(n, 0.5, gen, device).view(n), -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, cx, h, cy
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def colour_jitter(
    x: torch.Tensor, gen: torch.Generator, strength: float = 0.4, hue: float = 0.1
) -> torch.Tensor:
    """Brightness, contrast and saturation by factors in [1 - strength, 1 + strength]; hue by up to
    ``hue`` of a turn."""
    n, device = len(x), x.device
    factor = lambda: _uniform(n, 1 - strength, 1 + strength, gen, device).view(n, 1, 1, 1)  # noqa: E731
    x = (x * factor()).clamp(0, 1)
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * factor() + mean).clamp(0, 1)
    grey = _grey(x)
    x = ((x - grey) * factor() + grey).clamp(0, 1)
    turn = _uniform(n, -hue, hue, gen, device) * 2 * math.pi
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    to_yiq = to_yiq.to(device)
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
    cos, sin = turn.cos().view(n, 1, 1), turn.sin().view(n, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack((yiq[:, 0], cos * i - sin * q, sin * i + cos * q), dim=1)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(to_yiq), yiq).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred by its own ``sigma`` (pixels), separably, reflecting at the borders."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n * c, taps)
    flat = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)


def moco_v2(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """One random view of each image ``(n, 1 or 3, h, w)`` in [0, 1]: RGB at ``size`` x ``size``."""
    n, device = len(x), x.device
    x = resized_crop(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x, size, gen)
    x = torch.where(_chance(n, 0.8, gen, device), colour_jitter(x, gen), x)
    x = torch.where(_chance(n, 0.2, gen, device), _grey(x).expand(-1, 3, -1, -1), x)
    sigma = _uniform(n, 0.1, 2.0, gen, device) * size / 224
    return torch.where(_chance(n, 0.5, gen, device), gaussian_blur(x, sigma), x)
