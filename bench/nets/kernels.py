"""bench's own kernel where torch's CPU kernel is slow, asked for with ``--fast-kernels``.

The weight gradient of a depthwise convolution with a 5x5 kernel: oneDNN has a depthwise kernel for
3x3 only and computes the rest with its generic grouped one, 5 to 25 times slower than the 3x3's on
the maps of EfficientNet-Lite's late stages, where it is about two fifths of a fine-tuning step
(docs/cost.md). Here each tap's gradient is the input shifted by that tap times the output's
gradient, summed over batch and space: the same sum in another order. So the numbers differ in
float rounding (about 1e-7 to 1e-6 of a weight's gradient) and a training drifts from there: a
lever that changes numbers, which a cell asks for and is keyed by. On CUDA nothing is replaced.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MIN_KERNEL = 4  # oneDNN's depthwise kernel covers 3x3 (measured: its 3x3 gradient beats the shifts)


def depthwise_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """The gradient of a depthwise convolution's weight (c, 1, k, k): ``x`` its (padded) input, ``grad``
    its output's gradient, both (n, c, h, w) and fastest in channels-last memory."""
    xs, gs = x.permute(0, 2, 3, 1), grad.permute(0, 2, 3, 1)  # (n, h, w, c) views
    h, w = gs.shape[1:3]
    out = x.new_empty(x.shape[1], kernel, kernel)
    for i in range(kernel):
        for j in range(kernel):
            tap = xs[:, i : i + stride * h : stride, j : j + stride * w : stride, :]
            out[:, i, j] = (tap * gs).sum(dim=(0, 1, 2))
    return out.unsqueeze(1)


class _Depthwise(torch.autograd.Function):
    """A depthwise convolution without padding: torch's forward and input gradient, bench's weight's."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride = stride
        return F.conv2d(x, weight, None, stride, 0, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous(memory_format=torch.channels_last)
        s = ctx.stride
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            args = (grad, x, weight, None, (s, s), (0, 0), (1, 1), False, [0, 0], weight.shape[0])
            grad_x = torch.ops.aten.convolution_backward(*args, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad, weight.shape[-1], s).to(memory_format=torch.channels_last)
        return grad_x, grad_w, None


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
        if conv.padding != (0, 0):
            x = F.pad(x, (conv.padding[1],) * 2 + (conv.padding[0],) * 2)
        return _Depthwise.apply(x, conv.weight, conv.stride[0])


def _replaceable(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.groups == module.in_channels == module.out_channels > 1
        and module.kernel_size[0] == module.kernel_size[1] >= MIN_KERNEL
        and module.stride[0] == module.stride[1]
        and module.dilation == (1, 1)
        and module.bias is None
        and module.weight.requires_grad
    )


def use_fast_kernels(model: nn.Module) -> int:
    """Wrap every trainable depthwise convolution of ``model`` that bench has a faster gradient for, in
    place (the same parameters, so an optimiser built before or after sees them); how many."""
    replaced = 0
    for parent in [m for m in model.modules() if not isinstance(m, FastDepthwise)]:
        for name, child in list(parent.named_children()):
            if _replaceable(child):
                setattr(parent, name, FastDepthwise(child))
                replaced += 1
    return replaced
