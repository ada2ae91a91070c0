"""How bench's convolutions run on a CPU: the padding inside the convolution, and bench's own kernel
where torch's is slow, asked for with ``--fast-kernels``.

Padding inside the convolution (``even_padding``): the package's forward bit for bit, taken with the kernel.
The weight gradient of a depthwise convolution with a 5x5 kernel: oneDNN has a depthwise kernel for
3x3 only and computes the rest with its generic grouped one. On EfficientNet-Lite0's late stages at
64 px a 5x5 layer's weight gradient took 3.5 to 8.4 ms where a 3x3 one's took 0.1 to 0.2 ms: about
two fifths of a fine-tuning step (docs/cost.md). Here each tap's gradient is the input shifted by
that tap times the output's gradient, summed over batch and space: the same sum in another order.
So the numbers differ in float rounding (about 1e-7 to 1e-6 of a weight's gradient) and a training
drifts from there: a lever that changes numbers, which a cell asks for and is keyed by; such a cell
also pads inside every convolution, trained ones too (the same sums, another kernel's rounding). On
CUDA nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

MIN_KERNEL = 4  # oneDNN's depthwise kernel covers 3x3 (measured: its 3x3 gradient beats the shifts)


def even_padding(modules: Iterable[nn.Module]) -> None:
    """Give each convolution whose "same" padding is even on all four sides that padding itself.

    The package pads every activation map into a new tensor before convolving it; the convolution's
    own padding gives the same outputs bit for bit without that copy, but the weight gradient not
    always (oneDNN picks another kernel for some maps). Measured on a CPU it was no gain by itself:
    an extraction at 112 px 7-10% faster, but ``panda``'s and ``msc``'s digits cells slower
    (docs/cost.md), so only ``--fast-kernels`` takes it.
    """
    for module in modules:
        pad = getattr(getattr(module, "static_padding", None), "padding", None)
        even = pad is not None and len(set(pad)) == 1
        if isinstance(module, nn.Conv2d) and even and module.padding == (0, 0):
            module.padding, module.static_padding = (pad[0], pad[0]), nn.Identity()


def _inside(tap: int, pad: int, stride: int, size: int, out: int) -> slice:
    """The output positions whose input, ``tap`` along the kernel, lies inside the unpadded map."""
    first = max(0, -((tap - pad) // stride))  # ceil((pad - tap) / stride)
    return slice(first, max(first, min(out, (size - 1 + pad - tap) // stride + 1)))


def depthwise_weight_grad(
    x: torch.Tensor, grad: torch.Tensor, kernel: int, stride: int, pad: int = 0
) -> torch.Tensor:
    """The gradient of a depthwise convolution's weight (c, 1, k, k): ``x`` its input (padded by ``pad``
    on every side inside the convolution), ``grad`` its output's gradient, both (n, c, h, w) and
    fastest in channels-last memory."""
    xs, gs = x.permute(0, 2, 3, 1), grad.permute(0, 2, 3, 1)  # (n, h, w, c) views
    (height, width), (h, w) = xs.shape[1:3], gs.shape[1:3]
    out = x.new_zeros(x.shape[1], kernel, kernel)
    for i in range(kernel):
        rows = _inside(i, pad, stride, height, h)
        for j in range(kernel):
            cols = _inside(j, pad, stride, width, w)
            if rows.start == rows.stop or cols.start == cols.stop:
                continue  # this tap sees only padding
            top, left = rows.start * stride + i - pad, cols.start * stride + j - pad
            tap = xs[:, top : top + stride * (rows.stop - rows.start) : stride]
            tap = tap[:, :, left : left + stride * (cols.stop - cols.start) : stride]
            out[:, i, j] = (tap * gs[:, rows, cols]).sum(dim=(0, 1, 2))
    return out.unsqueeze(1)


class _Depthwise(torch.autograd.Function):
    """A depthwise convolution: torch's forward and input gradient, bench's weight gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int, pad: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.pad = stride, pad
        return F.conv2d(x, weight, None, stride, pad, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        s, p = ctx.stride, ctx.pad
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            args = (grad, x, weight, None, (s, s), (p, p), (1, 1), False, [0, 0], weight.shape[0])
            grad_x = torch.ops.aten.convolution_backward(*args, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad, weight.shape[-1], s, p)
            grad_w = grad_w.contiguous(memory_format=torch.channels_last)
        return grad_x, grad_w, None, None


class FastDepthwise(nn.Module):
    """A depthwise convolution whose weight gradient bench computes; anything else as the wrapped one."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        if not (conv.weight.requires_grad and torch.is_grad_enabled()):
            return conv(x)
        x = conv.static_padding(x) if hasattr(conv, "static_padding") else x
        return _Depthwise.apply(x, conv.weight, conv.stride[0], conv.padding[0])


def _replaceable(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.groups == module.in_channels == module.out_channels > 1
        and module.kernel_size[0] == module.kernel_size[1] >= MIN_KERNEL
        and module.stride[0] == module.stride[1]
        and isinstance(module.padding, tuple)
        and module.padding[0] == module.padding[1]
        and module.dilation == (1, 1)
        and module.bias is None
        and module.weight.requires_grad
    )


def use_fast_kernels(model: nn.Module) -> int:
    """Give every convolution of ``model`` its even padding itself and wrap every trainable depthwise one
    that bench has a faster gradient for, in place (the same parameters, so an optimiser built before
    or after sees them); how many were wrapped."""
    even_padding(model.modules())
    replaced = 0
    for parent in [m for m in model.modules() if not isinstance(m, FastDepthwise)]:
        for name, child in list(parent.named_children()):
            if _replaceable(child):
                setattr(parent, name, FastDepthwise(child))
                replaced += 1
    return replaced
