"""Network pieces shared by several methods, sized from the image shape at hand."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def down_size(n: int, k: int = 3, s: int = 2, p: int = 1) -> int:
    return (n + 2 * p - k) // s + 1


def up_padding(n_in: int, target: int, k: int = 3, s: int = 2, p: int = 1) -> int:
    """The ``output_padding`` that makes a transposed conv land exactly on ``target``."""
    pad = target - ((n_in - 1) * s - 2 * p + k)
    if pad not in (0, 1):
        raise ValueError(f"cannot upsample {n_in} to {target} with kernel {k}, stride {s}")
    return pad


def conv_autoencoder(
    channels: int, size: int, widths: tuple[int, int] = (32, 64), code: int = 64
) -> tuple[nn.Sequential, nn.Sequential]:
    """Seed 003's conv AE: two k3 s2 convs, one conv spanning the rest to a 1x1 code; mirrored up.

    For 28x28 images: 28 -> 14 -> 7 -> 1 (kernel 7), then 1 -> 7 -> 14 -> 28 with a sigmoid.
    """
    s1 = down_size(size)
    s2 = down_size(s1)
    encoder = nn.Sequential(
        nn.Conv2d(channels, widths[0], 3, 2, 1), nn.ReLU(),
        nn.Conv2d(widths[0], widths[1], 3, 2, 1), nn.ReLU(),
        nn.Conv2d(widths[1], code, s2), nn.ReLU(),
    )  # fmt: skip
    decoder = nn.Sequential(
        nn.ConvTranspose2d(code, widths[1], s2), nn.ReLU(),
        nn.ConvTranspose2d(widths[1], widths[0], 3, 2, 1, output_padding=up_padding(s2, s1)), nn.ReLU(),
        nn.ConvTranspose2d(widths[0], channels, 3, 2, 1, output_padding=up_padding(s1, size)), nn.Sigmoid(),
    )  # fmt: skip
    return encoder, decoder


def dense(sizes: list[int], last_activation: nn.Module | None = None) -> nn.Sequential:
    """Linear layers with ReLU between them (and ``last_activation`` after the last, if given)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last_activation is not None:
        layers.append(last_activation)
    return nn.Sequential(*layers)


def check_square(image_shape: tuple[int, ...], who: str) -> tuple[int, int]:
    channels, h, w = image_shape
    if h != w:
        raise ValueError(f"{who} needs square images, got {h}x{w}")
    return channels, h


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per sample, summed over the code: the VAE's regulariser."""
    return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 2 * log_sigma - 1).sum(1)
