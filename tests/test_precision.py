"""bf16 training: really in bf16 where a method allows it, refused where it does not, results close."""

from __future__ import annotations

import pytest
import torch

from bench.contract.method import Env
from bench.data.dataset import TrainData
from bench.data.protocol import make_split
from bench.errors import BenchError
from bench.nets.device import resolve_precision
from bench.registry import METHODS
from bench.sweep.fit_score import run_cell


def fit_in(name: str, digits, precision: str, **params) -> dict[str, float]:
    info, cls = METHODS.get(name)
    split = make_split(digits, "supervised" if "anomaly_labels" in info.needs else "one-class", 0, seed=0)
    result = run_cell(cls(**params), info.needs, split, Env(seed=0, precision=precision))
    assert result.ok, result.detail
    return result.metrics


def test_auto_is_bf16_on_cuda_only():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda:0") == "bf16"
    assert resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(BenchError):
        resolve_precision("fp16", "cpu")


@pytest.mark.parametrize("name", ["ae-threshold", "vae-elbo"])
def test_bf16_trains_in_bf16_and_lands_near_fp32(digits, name):
    fp32 = fit_in(name, digits, "fp32")
    bf16 = fit_in(name, digits, "bf16")
    assert fp32["bf16"] == 0 and bf16["bf16"] == 1
    assert bf16["threshold"] != fp32["threshold"], "the bf16 weights should differ at least in the last bits"
    assert abs(bf16["auroc"] - fp32["auroc"]) < 0.03


def test_autocast_really_lowers_the_matmuls(digits):
    method = METHODS.get("ae-threshold")[1](epochs=1)
    method.fit(TrainData(x=make_split(digits, "one-class", 0, seed=0).train.x), Env(precision="bf16"))
    with method.autocast():
        out = method.model_(torch.rand(4, *digits.image_shape))
    assert (out[0] if isinstance(out, tuple) else out).dtype == torch.bfloat16


def test_a_method_that_refuses_bf16_trains_in_fp32(digits):
    assert fit_in("gan-abc", digits, "bf16", epochs=1, batch_size=32)["bf16"] == 0
