"""bench's own CPU kernel (``--fast-kernels``): torch's gradient to float rounding, on exactly the layers
it is for, and a cell that asks for it keyed apart, recorded and rebuilt as such."""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("efficientnet_lite_pytorch")

from bench.nets import backbones
from bench.nets.kernels import FastDepthwise, depthwise_weight_grad, use_fast_kernels
from bench.registry import DATASETS
from bench.sweep.reproduce import rebuild
from bench.tracking.bundle import read_bundle
from bench.tracking.transfer import export_experiment
from tests.test_bundles import sweep


def torch_weight_grad(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor, stride: int, pad: int):
    args = (grad, x, weight, None, (stride, stride), (pad, pad), (1, 1), False, [0, 0], weight.shape[0])
    return torch.ops.aten.convolution_backward(*args, [False, True, False])[1]


LAYOUTS = [  # map size, stride, padding inside the convolution, memory layout
    (8, 1, 0, torch.channels_last),
    (9, 2, 0, torch.contiguous_format),
    (2, 1, 2, torch.channels_last),  # EfficientNet's last 5x5 stage at 64 px: most taps see padding
    (7, 2, 2, torch.channels_last),
]


@pytest.mark.parametrize(("size", "stride", "pad", "layout"), LAYOUTS)
def test_depthwise_weight_gradient_is_torchs_to_float_rounding(size, stride, pad, layout):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 48, size, size, generator=gen).contiguous(memory_format=layout)
    weight = torch.randn(48, 1, 5, 5, generator=gen)
    out = (size + 2 * pad - 5) // stride + 1
    grad = torch.randn(6, 48, out, out, generator=gen).contiguous(memory_format=layout)
    expected = torch_weight_grad(x, grad, weight, stride, pad)
    got = depthwise_weight_grad(x, grad, 5, stride, pad)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_fast_kernels_take_the_trainable_5x5_depthwise_layers_and_train_them_as_torch_does():
    """On Lite0 with PANDA's frozen stem: the seven trainable 5x5 depthwise layers and no other, the
    same parameters (an optimiser built before still holds them), the forward bit for bit, every
    gradient within float rounding; scoring (no gradient) runs torch's own layer; wrapping twice adds none."""
    net = backbones.build("efficientnet-lite0", 64, "cpu")
    trainable = backbones.freeze_before_stride(net, 16)
    stock = copy.deepcopy(net)
    expected = [
        m
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
        and m.groups > 1
        and m.kernel_size[0] == 5
        and m.weight.requires_grad
    ]
    assert use_fast_kernels(net) == len(expected) == 7 and use_fast_kernels(net) == 0
    assert {id(m.conv) for m in net.modules() if isinstance(m, FastDepthwise)} == {id(m) for m in expected}
    assert [id(p) for p in net.parameters() if p.requires_grad] == [id(p) for p in trainable]
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fast_out, stock_out = net(x), stock(x)
    assert torch.equal(fast_out, stock_out)
    fast_out.pow(2).sum().backward()
    stock_out.pow(2).sum().backward()
    stock_grads = [p.grad for p in stock.parameters() if p.requires_grad]
    for fast, slow in zip(trainable, stock_grads, strict=True):
        torch.testing.assert_close(fast.grad, slow, rtol=1e-4, atol=1e-4 * float(slow.abs().max()))
    with torch.no_grad():
        assert torch.equal(net(x), stock(x))


def test_a_cell_asking_for_fast_kernels_is_keyed_apart_recorded_and_rebuilt_as_such(tmp_path):
    settings = {
        "methods": ("panda",),
        "classes": (0,),
        "overrides": ("panda.epochs=1", "panda.resolution=32"),
    }
    tracker = sweep(tmp_path / "store", fast_kernels=True, **settings)
    (run,) = tracker.runs.runs_of_kind("cell")
    assert run.data.tags["bench.fast_kernels"] == "true" and run.data.metrics["fast_kernels"] == 7
    plain = sweep(tmp_path / "store", **settings)  # the same cell without: a new key, nothing recorded
    runs = plain.runs.runs_of_kind("cell")
    assert len({r.data.tags["cell_key"] for r in runs}) == 2
    (other,) = [r for r in runs if r.info.run_id != run.info.run_id]
    assert "bench.fast_kernels" not in other.data.tags and "fast_kernels" not in other.data.metrics
    export_experiment(plain, tmp_path / "bundle", scores=False)
    cells = read_bundle(tmp_path / "bundle").cells
    digits = {"digits": DATASETS.get("digits")[1].load(None)}
    rebuilt = [rebuild(row, digits) for _, row in cells.iterrows()]
    assert sorted((r.cell.fast_kernels, r.cell.key == r.key) for r in rebuilt) == [
        (False, True),
        (True, True),
    ]
