"""Cells in local worker processes (``--jobs N``) and as Ray tasks give the results of cells run one
after another in the sweep's own process (``--in-process``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.report.leaderboard import latest_per_cell, leaderboard
from bench.tracking.sqlite import prepare_sqlite_store, sqlite_uri
from bench.tracking.tracker import Tracker, default_uri
from tests.conftest import ROOT, free_port, require, run_cli
from tests.test_python_api import run_script

BROKEN = str(ROOT / "tests" / "plugins" / "broken_methods.py")
# A PyOD detector, PyOD's numba-compiled HBOS, and a torch method (whose float
# sums may differ in the last bits with the number of threads a worker has).
METHODS = "pyod-knn,pyod-hbos,vae-elbo"
GRID = ["--methods", METHODS, "--classes", "0", "--results", "out"]
pytestmark = pytest.mark.slow


def has_ray() -> bool:
    """Ray that imports: an installed but broken Ray counts as missing (and fails CI through ``require``)."""
    try:
        import ray
    except Exception:
        return False
    return callable(getattr(ray, "init", None))


def cells(results: Path, experiment: str) -> pd.DataFrame:
    tracker = Tracker(default_uri(results), experiment)
    return latest_per_cell(tracker.runs.cell_table()).set_index("cell_key").sort_index()


def assert_same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index), "the same cells, by resume key"
    for metric in ("auroc", "auprc", "f1", "threshold"):
        np.testing.assert_allclose(b[metric].to_numpy(), a[metric].to_numpy(), rtol=1e-5, atol=1e-6)
    board_a, board_b = leaderboard(a.reset_index()), leaderboard(b.reset_index())
    assert board_a["method"].tolist() == board_b["method"].tolist()
    np.testing.assert_allclose(board_b["auroc_mean"], board_a["auroc_mean"], atol=1e-6)


@pytest.mark.xdist_group("ray")  # one local Ray instance at a time
def test_jobs_and_ray_give_the_serial_leaderboard(tmp_path, bench_main):
    serial = bench_main("run", *GRID, "--experiment", "serial", "--in-process")
    assert serial.returncode == 0, serial.stderr
    assert "3 cells in this process" in serial.stdout
    pooled = bench_main("run", *GRID, "--experiment", "pooled", "--jobs", "2")
    assert pooled.returncode == 0, pooled.stderr
    assert "3 cells, 2 at once in worker processes" in pooled.stdout
    reference = cells(tmp_path / "out", "serial")
    assert len(reference) == 3
    assert_same_results(reference, cells(tmp_path / "out", "pooled"))

    # As Ray tasks, from a researcher's script (no main guard) that defines a method of its own
    # beside them (tests/test_python_api.py). A cluster that has gone (as a stale $RAY_ADDRESS or
    # /tmp/ray/ray_current_cluster names one): without ray_address bench starts its own instance
    # instead of hanging on the dead one.
    require("ray", has_ray())
    options = {"classes": [0], "results": "out", "experiment": "ray", "executor": "ray", "cpus_per_cell": 0.5}
    stale = {"RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    out, _ = run_script(tmp_path, stale, methods=[*METHODS.split(","), "mean-distance"], **options)
    assert "4 cells as Ray tasks (local instance)" in out
    assert json.loads(out.strip().splitlines()[-1])["power"][0] == 1, "the cell's second definition ran"
    ray = cells(tmp_path / "out", "ray")
    assert_same_results(reference, ray[ray["method"] != "mean-distance"])


def test_a_cell_that_kills_its_process_fails_alone(tmp_path):
    """A worker SIGKILLed by its cell (as by a segfault or the OOM killer) fails that cell only.

    The same as Ray tasks: ``test_ray_cells_log_to_a_shared_tracking_server``."""
    res = run_cli(
        "--plugin",
        BROKEN,
        "run",
        "--methods",
        "test-kills-its-process,pyod-pca,ae-threshold",
        "--classes",
        "0,1",
        "--results",
        "out",
        "--jobs",
        "2",
        cwd=tmp_path,
    )
    assert res.returncode == 1, res.stderr
    assert "4 cells ok, 2 failed" in res.stdout
    tracker = Tracker(default_uri(tmp_path / "out"), "bench")
    failed = tracker.runs.search("tags.`bench.kind` = 'cell' and attributes.status = 'FAILED'")
    assert sorted(r.data.tags["method"] for r in failed) == ["test-kills-its-process"] * 2
    assert all("WorkerCrashed" in r.data.tags["bench.error"] for r in failed)
    ok = tracker.runs.cell_table()
    assert sorted(ok["method"]) == ["ae-threshold"] * 2 + ["pyod-pca"] * 2


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.xdist_group("ray"))])
def test_tune_workers_share_one_stored_study(tmp_path, bench_main, executor):
    """Two workers (processes or Ray tasks) run trials of one Optuna study in the RDB storage."""
    import optuna

    args = ["tune", "--method", "pyod-knn", "--classes", "0,1", "--trials", "8", "--results", "out"]
    args += ["--jobs", "2", "--executor", executor]
    if executor == "ray":  # Ray's driver in a process of its own, which leaves nothing in this one
        require("ray", has_ray())
        res = run_cli(*args, cwd=tmp_path)
    else:  # spawned worker processes: the tune itself may run in this process
        res = bench_main(*args)
    assert res.returncode == 0, res.stderr
    assert f"2 workers share the study ({executor})" in res.stdout
    storage = f"sqlite:///{tmp_path / 'out' / 'optuna.db'}"
    study = optuna.load_study(study_name="pyod-knn.digits.one-class.c0-1.s0", storage=storage)
    counted = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 8 <= len(counted) <= 9, "the workers stop together at the study's count (one may be in flight)"
    assert len({t.number for t in study.trials}) == len(study.trials)
    tracker = Tracker(default_uri(tmp_path / "out"), "bench")
    trials = tracker.runs.search("tags.`bench.kind` = 'trial'")
    assert len(trials) == len(study.trials)
    by_number = {t.number: str(t.user_attrs["worker"]) for t in study.trials}
    assert {int(r.data.tags["trial"]): r.data.tags["worker"] for r in trials} == by_number
    assert set(by_number.values()) <= {"0", "1"}, "each trial ran in one of the two workers"
    assert (tmp_path / "out" / "tuned" / "pyod-knn.digits.one-class.c0-1.s0.json").is_file()


@pytest.mark.xdist_group("ray")
def test_ray_cells_log_to_a_shared_tracking_server(tmp_path, bench_main):
    """``--executor ray --tracking-uri http://...``: runs, metrics and figures land on the server; a
    task whose process its cell kills fails that cell alone (Ray retries it once, then reports it)."""
    import os
    import signal
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    from tests.conftest import free_port, wait_until_healthy

    require("ray", has_ray())
    port = free_port()
    backend = sqlite_uri(tmp_path / "server.db")
    prepare_sqlite_store(backend)  # made as bench makes its stores: the server migrates no new file
    store = ["--backend-store-uri", backend, "--artifacts-destination", str(tmp_path / "server-artifacts")]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), *store],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(uri, server)
        methods = "test-kills-its-process,pyod-pca,ae-threshold"
        args = ["--plugin", BROKEN, "run", "--methods", methods, "--classes", "0", "--executor", "ray"]
        res = run_cli(*args, "--tracking-uri", uri, "--results", "out", cwd=tmp_path)
        assert res.returncode == 1, res.stderr
        assert "2 cells ok, 1 failed" in res.stdout
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("bench")
        runs = client.search_runs([exp.experiment_id], "tags.`bench.kind` = 'cell'")
        (failed,) = [r for r in runs if r.info.status == "FAILED"]
        assert failed.data.tags["method"] == "test-kills-its-process"
        assert "WorkerCrashed" in failed.data.tags["bench.error"]
        runs = [r for r in runs if r.info.status != "FAILED"]
        assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
        artifacts = {f.path for f in client.list_artifacts(runs[0].info.run_id)}
        assert {"roc.svg", "score_histogram.svg", "scores.csv"} <= artifacts
        assert list((tmp_path / "server-artifacts").rglob("roc.svg")), "artifacts stored by the server"
        assert not (tmp_path / "out" / "artifacts").exists(), "nothing written beside a remote store"
        board = bench_main("leaderboard", "--tracking-uri", uri, "--results", "out", "--no-roc")
        assert board.returncode == 0, board.stderr
        board_csv = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
        ranked = board_csv.dropna(subset=["rank"])
        assert set(ranked["method"]) == {"pyod-pca", "ae-threshold"}
        (note,) = board_csv.loc[board_csv["method"] == "test-kills-its-process", "note"]
        assert note.startswith("FAILED: 1 cell; first: WorkerCrashed")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_workers_that_cannot_start_end_the_sweep_in_one_line(tmp_path):
    """A plugin that imports in the sweep process but not in its workers: an error, not a hang."""
    plugin = tmp_path / "only_here.py"
    plugin.write_text(
        "import multiprocessing\n"
        "from bench.api import Method, register_method\n"
        "if multiprocessing.parent_process() is not None:\n"
        "    raise ImportError('this plugin refuses worker processes')\n"
        "@register_method('test-only-here')\n"
        "class OnlyHere(Method):\n"
        "    def fit(self, train, env):\n"
        "        return self\n"
        "    def score(self, x):\n"
        "        return x.reshape(len(x), -1).mean(axis=1)\n"
    )
    res = run_cli(
        "--plugin", str(plugin), "run", "--methods", "test-only-here", "--classes", "0,1", "--jobs", "2",
        "--results", "out", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"bench: error: a worker process could not start: BenchError: plugin {plugin}:4: ImportError: "
        "this plugin refuses worker processes"
    ], "one line, with the worker's own reason"


@pytest.mark.xdist_group("ray")
def test_asking_a_gpu_less_ray_cluster_for_gpus_is_one_line(tmp_path):
    require("ray", has_ray())
    res = run_cli("run", "--methods", "pyod-pca", "--classes", "0", "--executor", "ray", "--gpus-per-cell",
                  "0.5", "--results", "out", cwd=tmp_path, timeout=300)  # fmt: skip
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last == "bench: error: --gpus-per-cell 0.5: the Ray cluster has no GPUs"
