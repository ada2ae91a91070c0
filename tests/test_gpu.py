"""The CUDA path, on a machine that has one (``pytest -m gpu``; benchmarks/gpu_check.sh runs it there).

Skipped where there is no CUDA device, so the suite never needs a GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.contract.method import Env
from bench.data.protocol import make_split
from bench.registry import METHODS
from bench.sweep.fit_score import run_cell

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
PLUGIN = str(Path(__file__).parent / "plugins" / "gpu_methods.py")


def cells(results: Path) -> dict[str, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench")
    out: dict[str, list] = {}
    for run in client.search_runs([exp.experiment_id], "tags.`bench.kind` = 'cell'"):
        out.setdefault(run.data.tags["method"], []).append(run)
    return out


def test_a_torch_method_trains_and_scores_on_the_gpu(digits):
    info, cls = METHODS.get("ae-threshold")
    method = cls(epochs=3)
    result = run_cell(method, info.needs, make_split(digits, "one-class", 0, seed=0), Env(device="cuda"))
    assert result.ok, result.detail
    assert next(method.model_.parameters()).device.type == "cuda"
    assert result.metrics["auroc"] > 0.8 and result.metrics["peak_memory_mb"] > 0


def test_bf16_on_cuda_trains_in_bf16_and_still_learns(digits):
    info, cls = METHODS.get("ae-threshold")
    env = Env(device="cuda", precision="bf16")
    result = run_cell(cls(epochs=5), info.needs, make_split(digits, "one-class", 0, seed=0), env)
    assert result.ok, result.detail
    assert result.metrics["bf16"] == 1.0 and result.metrics["auroc"] > 0.8


def test_cuda_out_of_memory_fails_its_cell_alone_and_peak_memory_is_logged(tmp_path):
    from bench.cli.main import main

    argv = ["--plugin", PLUGIN, "run", "--methods", "test-cuda-oom,ae-threshold", "--classes", "0",
            "--set", "ae-threshold.epochs=2", "--device", "cuda", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1, "one failed cell: the sweep exits 1"
    runs = cells(tmp_path)
    (oom,) = runs["test-cuda-oom"]
    assert oom.info.status == "FAILED" and "OutOfMemoryError" in oom.data.tags["bench.error"]
    (ok,) = runs["ae-threshold"]
    assert ok.info.status == "FINISHED" and ok.data.metrics["peak_memory_mb"] > 0


def test_a_device_side_assert_fails_its_cell_and_the_next_cell_gets_a_fresh_worker(tmp_path):
    from bench.cli.main import main

    argv = ["--plugin", PLUGIN, "run", "--methods", "test-cuda-assert,ae-threshold", "--classes", "0,1",
            "--set", "ae-threshold.epochs=2", "--device", "cuda", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1
    runs = cells(tmp_path)
    assert all(r.info.status == "FAILED" for r in runs["test-cuda-assert"])
    assert all("CUDA error" in r.data.tags["bench.error"] for r in runs["test-cuda-assert"])
    assert [r.info.status for r in runs["ae-threshold"]] == ["FINISHED"] * 2, "not poisoned by the assert"


def test_two_workers_share_one_gpu(tmp_path):
    from bench.cli.main import main

    short = ["--set", "ae-threshold.epochs=2", "--set", "vae-elbo.epochs=2"]
    argv = ["run", "--methods", "ae-threshold,vae-elbo", "--classes", "0,1", *short, "--device", "cuda",
            "--jobs", "2", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    runs = cells(tmp_path)
    assert sorted(len(v) for v in runs.values()) == [2, 2]
    assert {r.data.tags["device"] for v in runs.values() for r in v} <= {"cuda", "cuda:0"}


def test_a_cuda_cell_records_its_gpu_and_the_deterministic_flags_in_force(tmp_path):
    from bench.cli.main import main

    argv = ["run", "--methods", "ae-threshold", "--classes", "0", "--set", "ae-threshold.epochs=2",
            "--device", "cuda", "--deterministic", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    (run,) = cells(tmp_path)["ae-threshold"]
    tags = run.data.tags
    assert tags["env.gpu"] == torch.cuda.get_device_name(0) and int(tags["env.gpu_memory_gib"]) > 0
    assert tags["env.cuda"] == torch.version.cuda
    assert (tags["env.cudnn_deterministic"], tags["env.cudnn_benchmark"]) == ("true", "false")
    assert tags["env.deterministic_algorithms"] == "true"
