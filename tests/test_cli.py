"""The CLI end to end, in fresh processes, on real data and a real MLflow SQLite store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, run_cli
from tests.test_datasets import write_fake_mnist

BROKEN = str(ROOT / "tests" / "plugins" / "broken_methods.py")
pytestmark = pytest.mark.slow


def client_for(results: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{results / 'mlflow.db'}")


def cell_runs(results: Path, status: str = "FINISHED"):
    client = client_for(results)
    exp = client.get_experiment_by_name("bench")
    return client.search_runs(
        [exp.experiment_id],
        f"tags.`bench.kind` = 'cell' and attributes.status = '{status}'",
        max_results=1000,
    )


def test_digits_run_logs_runs_tags_metrics_artifacts(tmp_path, bench_main):
    res = bench_main("run", "--methods", "ae-threshold,pyod-pca", "--classes", "0,1", "--results", "out")
    assert res.returncode == 0, res.stderr
    runs = cell_runs(tmp_path / "out")
    assert len(runs) == 4
    client = client_for(tmp_path / "out")
    for run in runs:
        tags = run.data.tags
        for key in (
            "sweep_id",
            "method",
            "dataset",
            "protocol",
            "normal_class",
            "seed",
            "cell_key",
            "device",
        ):
            assert tags.get(key), key
        assert tags["dataset"] == "digits" and tags["device"] == "cpu"
        assert tags["threshold_source"] == "method-rule"
        metrics = run.data.metrics
        for key in (
            "auroc",
            "auprc",
            "f1",
            "precision",
            "recall",
            "accuracy",
            "fit_seconds",
            "peak_memory_mb",
        ):
            assert key in metrics, key
        assert 0.5 < metrics["auroc"] <= 1.0
        params = run.data.params
        assert int(params["n_test"]) == 539 and "n_train" in params
        assert params["protocol.contamination"] == "0.0"  # the protocol's, beside the method's own
        assert params["data.checksums"] == "bundled with scikit-learn"
        if tags["method"] == "pyod-pca":
            assert params["contamination"] == "0.1", "PyOD's hyperparameter is not overwritten"
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"roc.svg", "score_histogram.svg", "scores.csv"} <= artifacts
        scores = pd.read_csv(client.download_artifacts(run.info.run_id, "scores.csv", str(tmp_path)))
        assert len(scores) == 539 and scores["index"].is_unique
        assert (scores["anomaly"] == (scores["class"] != int(tags["class"]))).all()
    by_method = {r.data.tags["method"]: r.data.params for r in runs}
    assert by_method["ae-threshold"]["epochs"] == "20" and by_method["ae-threshold"]["k_std"] == "3.0"

    board = bench_main("leaderboard", "--results", "out")
    assert board.returncode == 0, board.stderr
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert sorted(table["method"]) == ["ae-threshold", "pyod-pca"]
    assert (table["cells"] == 2).all()
    assert "| 1 | digits | one-class |" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_rerun_skips_finished_cells_and_rerun_flag_forces(tmp_path, bench_main):
    args = ("run", "--methods", "pyod-pca", "--classes", "0,1", "--results", "out")
    assert bench_main(*args).returncode == 0
    again = bench_main(*args[:-2], env={"BENCH_RESULTS": "out"})  # $BENCH_RESULTS: the same folder
    assert again.returncode == 0 and "0 cells ok" in again.stdout and "2 already done" in again.stdout
    assert not (tmp_path / "results").exists()
    forced = bench_main(*args, "--rerun")
    assert "2 cells ok" in forced.stdout
    assert len(cell_runs(tmp_path / "out")) == 4
    board = bench_main("leaderboard", "--results", "out")
    assert pd.read_csv(tmp_path / "out" / "leaderboard.csv")["cells"].tolist() == [2], board.stdout


def wait_until(done: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Until ``done()`` holds; fail if ``proc`` ends first."""
    deadline = time.time() + timeout
    while not done():
        assert proc.poll() is None, f"the sweep ended before {what}"
        assert time.time() < deadline, f"{what}: not in {timeout} s"
        time.sleep(0.05)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until ``path`` exists; fail if ``proc`` ends first. The gate holds the sweep there, so no race."""
    wait_until(path.exists, proc, f"{path} appeared", timeout)


def test_interrupted_sweep_resumes_without_duplicates(tmp_path):
    """Kill a sweep (SIGKILL) while a cell runs, rerun the same command: every cell exactly once."""
    args = ["--plugin", BROKEN, "run", "--methods", "ae-threshold,test-gate", "--classes", "0,1"]
    args += ["--results", "out", "--jobs", "1"]
    gate = tmp_path / "gate"
    gate.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=tmp_path,
        env={**os.environ, "BENCH_TEST_GATE": str(gate)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(gate / "started", proc)  # class 0's ae-threshold cell is done; test-gate holds
        # the sweep logs a cell while its worker runs the next one: wait for the run to be whole
        wait_until(lambda: len(cell_runs(tmp_path / "out")) == 1, proc, "the first cell was logged")
        workers = psutil.Process(proc.pid).children(recursive=True)
        cell_worker = int((gate / "started").read_text())
        assert cell_worker != proc.pid and cell_worker in {p.pid for p in workers}, "cells run in workers"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "the sweep's worker processes outlived it"
    assert not cell_runs(tmp_path / "out", status="RUNNING"), "the cell before the gate is logged whole"
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "3 cells ok, 0 failed, 1 already done" in res.stdout
    keys = [r.data.tags["cell_key"] for r in cell_runs(tmp_path / "out")]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert not cell_runs(tmp_path / "out", status="RUNNING"), "the dead sweep's run is not left RUNNING"
    assert not list((tmp_path / "out").glob(".*-*")), "no scratch folder is left"


def test_two_sweeps_started_together_into_a_new_folder_log_every_cell_once(tmp_path):
    """A fresh SQLite store is created once under its lock; overlapping grids log each cell once."""
    args = [sys.executable, "-m", "bench", "run", "--methods", "pyod-pca,ae-threshold", "--classes", "0,1"]
    env = {**os.environ, "BENCH_CACHE": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen([*args, "--jobs", "1", "--results", "out"], cwd=tmp_path, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    done = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in done]
    keys = [r.data.tags["cell_key"] for r in cell_runs(tmp_path / "out")]
    assert len(keys) == 4 and len(set(keys)) == 4, "every cell logged exactly once"
    assert not cell_runs(tmp_path / "out", status="RUNNING")
    logged = sum(int(out.split(" cells ok")[0].split()[-1]) for out, _ in done)
    assert logged == 4, "what one sweep logged, the other counted as done"


def test_failing_methods_are_isolated_and_reported(tmp_path, bench_main):
    methods = "test-raises,test-oom,test-nan,test-constant,test-needs-labels,pyod-pca"
    res = run_cli(
        "--plugin", BROKEN, "run", "--methods", methods, "--classes", "0", "--results", "out", cwd=tmp_path
    )
    assert res.returncode == 1
    out = res.stdout
    assert "1 cells ok, 4 failed" in out
    for reason in ("injected failure in fit", "OutOfMemoryError", "NaN or infinite", "scores are the same"):
        assert reason in out
    assert "test-needs-labels on one-class: n/a: needs anomaly labels" in out
    failed = cell_runs(tmp_path / "out", status="FAILED")
    assert sorted(r.data.tags["method"] for r in failed) == [
        "test-constant",
        "test-nan",
        "test-oom",
        "test-raises",
    ]
    assert all(r.data.tags["bench.error"] for r in failed)
    assert [r.data.tags["method"] for r in cell_runs(tmp_path / "out")] == ["pyod-pca"]
    bench_main("leaderboard", "--results", "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "n/a: needs anomaly labels" in md and "test-needs-labels" in md
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("method")
    assert board.loc["test-raises", "note"] == "FAILED: 1 cell; first: RuntimeError: injected failure in fit"
    assert board.loc["test-nan", "note"].startswith("FAILED: 1 cell; first: ValueError: 1 of 539 scores")
    assert board.loc["pyod-pca", "cells"] == 1


def test_fashion_mnist_one_class_on_the_real_files(tmp_path, bench_main, fashion):
    res = bench_main(
        "run",
        "--methods",
        "ae-threshold,pyod-pca",
        "--datasets",
        "fashion-mnist",
        "--classes",
        "1",
        "--results",
        "out",
    )
    assert res.returncode == 0, res.stderr
    runs = {r.data.tags["method"]: r for r in cell_runs(tmp_path / "out")}
    assert set(runs) == {"ae-threshold", "pyod-pca"}
    for run in runs.values():
        assert run.data.params["n_test"] == "10000" and run.data.params["n_train"] == "5400"
        assert run.data.params["data.checksums"] == "sha256 matched"
        assert run.data.params["data.source"] == "/usr/share/datasets/fashion-mnist (system)"
        assert run.data.metrics["auroc"] > 0.9  # trousers are easy to tell apart


def test_leaderboard_of_a_dataset_given_by_absolute_path(tmp_path, bench_main):
    """A dataset name with slashes and a colon becomes safe file names for the leaderboard's figures."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mine.npz", x=rng.integers(0, 255, (120, 8, 8), dtype=np.uint8), y=np.repeat([0, 1], 60)
    )
    data = f"npz:{tmp_path / 'mine.npz'}"
    res = bench_main("run", "--methods", "pyod-pca", "--datasets", data, "--classes", "0", "--results", "out")
    assert res.returncode == 0, res.stderr
    board = bench_main("leaderboard", "--results", "out")
    assert board.returncode == 0, board.stderr
    (heatmap,) = (tmp_path / "out" / "figures").glob("heatmap_npz_*_one-class.png")
    assert heatmap.stat().st_size > 0


def one_line_error(res) -> str:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and lines[0].startswith("bench: error:"), res.stderr
    return lines[0]


USER_ERRORS = [
    (("run", "--methods", "pyod-knnn"), "did you mean 'pyod-knn'"),
    (("run", "--datasets", "fashion-mnst"), "did you mean 'fashion-mnist'"),
    (("run", "--protocols", "oneclass"), "did you mean 'one-class'"),
    (("run", "--methods", "pyod:NoSuchDetector"), "unknown PyOD detector"),
    (("run", "--tracking-uri", "http://127.0.0.1:9"), "cannot use MLflow tracking store"),
    (("run", "--classes", "12"), "out of range"),
    (("--plugin", "nowhere.py", "list"), "no such file"),
]


@pytest.mark.parametrize("args,expect", USER_ERRORS)
def test_user_errors_end_in_one_line(bench_main, args, expect):
    assert expect in one_line_error(bench_main(*args))


def test_missing_and_corrupt_data_end_in_one_line(tmp_path, bench_main):
    env = {"BENCH_MIRRORS": "http://127.0.0.1:9/"}
    line = one_line_error(bench_main("run", "--datasets", "mnist", "--methods", "pyod-pca", env=env))
    assert "--data-dir" in line
    data = write_fake_mnist(tmp_path / "data")
    blob = (data / "t10k-images-idx3-ubyte.gz").read_bytes()
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])  # truncated download
    args = ("run", "--datasets", "mnist", "--methods", "pyod-pca", "--data-dir", str(data))
    assert "t10k-images" in one_line_error(bench_main(*args, env=env))
    raw = data / "train-labels-idx1-ubyte.gz"
    raw.unlink()
    (data / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x01\x2c" + b"\x01" * 10)
    assert "corrupt" in one_line_error(bench_main(*args, env=env))


def test_list_shows_methods_needs_datasets_and_protocols(tmp_path):
    res = run_cli("--plugin", BROKEN, "list", cwd=tmp_path)
    assert res.returncode == 0
    for text in (
        "ae-threshold",
        "pyod-iforest",
        "pyod:<ClassName>",
        "test-needs-labels",
        "anomaly_labels",
        "digits",
        "fashion-mnist",
        "mnist",
        "folder:DIR",
        "one-class",
        "leave-one-out",
        "balanced",
    ):
        assert re.search(rf"(?<![\w:-]){re.escape(text)}(?![\w-])", res.stdout), text  # whole names only


def test_dry_run_prints_each_cells_sizes_and_writes_nothing(tmp_path, capsys):
    from bench.cli.main import main

    argv = ["run", "--dry-run", "--methods", "pyod-pca,ae-threshold", "--protocols", "open-set,supervised",
            "--classes", "0", "--results", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "warning: open-set on digits: sizes scaled to the dataset" in out
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if "│ digits" in line}
    assert re.search(r"test set 0 .*591\+0 .*40\+3 .*135\+10 .*40 .*yes", rows["open-set"])
    assert re.search(r"class 0 .*113\+10 .*12\+1 .*53\+4 .*-.*n/a", rows["supervised"])
    assert "pyod-pca, ae-threshold on digits supervised: n/a on class 0 (seed 0): test splits hold 4" in out
    assert "2 cells on cpu" in out
    assert not (tmp_path / "out").exists()


def test_list_protocol_shows_its_sizes_on_every_dataset_here(capsys):
    from bench.cli.main import main

    assert main(["list", "--protocol", "open-set"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"digits .*test set 1 .*591\+0 .*135\+10", out)


def test_set_overrides_make_a_separate_variant(tmp_path, bench_main):
    args = ("run", "--methods", "ae-threshold", "--classes", "0", "--results", "out")
    assert bench_main(*args).returncode == 0
    res = bench_main(*args, "--set", "ae-threshold.epochs=2", "--set", "ae-threshold.hidden=[16,8]")
    assert res.returncode == 0 and "1 cells ok" in res.stdout, res.stdout + res.stderr
    runs = {r.data.tags["method_label"]: r for r in cell_runs(tmp_path / "out")}
    assert set(runs) == {"ae-threshold", "ae-threshold[epochs=2,hidden=(16, 8)]"}
    assert runs["ae-threshold[epochs=2,hidden=(16, 8)]"].data.params["epochs"] == "2"
    assert bench_main("leaderboard", "--results", "out").returncode == 0
    assert len(pd.read_csv(tmp_path / "out" / "leaderboard.csv")) == 2


BAD_SETS = [
    ("ae-threshold.nope=1", "ae-threshold has no hyperparameter 'nope'"),
    ("pyod-knn.k=3", "does not run"),
    ("bad", "METHOD.PARAM"),
]


@pytest.mark.parametrize("item,expect", BAD_SETS)
def test_bad_set_ends_in_one_line(bench_main, item, expect):
    assert expect in one_line_error(bench_main("run", "--methods", "ae-threshold", "--set", item))


BAD_HYPERPARAMETERS = [
    ("ae-threshold.epochs=-3", "ae-threshold: epochs must be >= 1, not -3"),
    ("ae-threshold.epochs=abc", "ae-threshold: epochs takes int, not 'abc'"),
    ("ae-threshold.epochs=0", "ae-threshold: epochs must be >= 1, not 0"),
    ("vae-elbo.lr=-1", "vae-elbo: lr must be > 0, not -1"),
    ("ae-kde.nosuch=1", "ae-kde has no hyperparameter 'nosuch'"),
    ("pyod-iforest.contamination=0.7", "contamination must be in (0, 0.5], not 0.7"),
    ("pyod-knn.method=foo", "pyod-knn: method takes one of 'largest', 'mean', 'median', not 'foo'"),
]


@pytest.mark.parametrize("item,expect", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_stop_before_any_work(tmp_path, bench_main, item, expect):
    """Checked against the plugin's declaration before the first cell: no cell, no store, no run."""
    method = item.split(".")[0]
    res = bench_main("run", "--methods", f"{method},pyod-pca", "--set", item, "--results", "out")
    assert expect in one_line_error(res)
    assert not (tmp_path / "out").exists(), "nothing written: no MLflow store, no config, no run"


@pytest.mark.parametrize("where", ["--jobs=1", "--in-process"])
def test_no_figures_logs_finished_runs_with_their_scores_and_no_pictures(tmp_path, bench_main, where):
    """``--no-figures``: a cell run holds its scores and metrics, FINISHED, and no PNG; the leaderboard
    still draws its figures (from the scores)."""
    args = ("run", "--methods", "pyod-hbos", "--classes", "0", "--no-figures", where, "--results", "out")
    done = bench_main(*args)
    assert done.returncode == 0 and "1 cells ok" in done.stdout, done.stderr
    (run,) = cell_runs(tmp_path / "out")
    artifacts = {a.path for a in client_for(tmp_path / "out").list_artifacts(run.info.run_id)}
    assert artifacts == {"scores.csv"} and "auroc" in run.data.metrics
    assert not cell_runs(tmp_path / "out", status="RUNNING")
    assert bench_main("leaderboard", "--results", "out").returncode == 0
    assert list((tmp_path / "out" / "figures").glob("*.png"))
