"""`bench ui` serves the MLflow UI on 127.0.0.1; headless Chromium sees the runs and their metrics."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, require, wait_until_healthy

pytestmark = pytest.mark.slow
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
    "--virtual-time-budget=20000",
]


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    cmd = [shutil.which("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_ui_opens_on_the_runs_without_a_click(tmp_path, bench_main):
    """The link `bench ui` prints opens the runs table in the model-training view, and a run's page
    shows its metrics; the experiment carries MLflow's model-development kind."""
    require("chromium", shutil.which("chromium") is not None)
    sweep = bench_main("run", "--methods", "ae-threshold,pyod-pca", "--classes", "0", "--results", "out")
    assert sweep.returncode == 0, sweep.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("bench")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.search_runs([experiment.experiment_id], "tags.method = 'ae-threshold'")[0]
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench", "ui", "--results", "out", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        url = _printed_link(log, server)  # printed once the server answers, never before
        wait_until_healthy(base, server, timeout=5)
        assert url == f"{base}/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
        shot = tmp_path / "ui.png"
        listing = chromium("--dump-dom", f"--screenshot={shot}", url, profile=tmp_path / "p1").stdout
        assert "ae-threshold | digits | one-class | class 0 | seed 0" in listing
        assert "pyod-pca | digits | one-class | class 0 | seed 0" in listing
        assert "Model registry" in listing and "Observability" not in listing  # the model-training view
        page = chromium(
            "--dump-dom",
            f"{base}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}",
            profile=tmp_path / "p2",
        ).stdout
        assert "auroc" in page and "fit_seconds" in page
        assert f"{run.data.metrics['auroc']:.4f}".rstrip("0") in page
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        # SIGTERM to `bench ui` alone, as a service manager sends it: the MLflow server and its
        # workers (their own process group) go with it, and the port is free again.
        (mlflow,) = [p for p in psutil.Process(server.pid).children() if "mlflow" in " ".join(p.cmdline())]
        group = [p for p in psutil.process_iter() if _group(p) == mlflow.pid]
        assert len(group) >= 2, "the server and its workers"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(group, timeout=10)
        assert not alive and not [p for p in psutil.process_iter() if _group(p) == mlflow.pid]
        with socket.socket() as probe:  # no listener left (the port's last connections may linger)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        if server.poll() is None:  # a step above failed: stop it as a user would, then for sure
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def _printed_link(log, server: subprocess.Popen, timeout: float = 120) -> str:
    """The link `bench ui` prints, once it has printed it; fail if it ends first."""
    deadline = time.monotonic() + timeout
    while not (found := re.search(r"(http://\S+workflowType=machine_learning)", log.read_text())):
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return found.group(1)


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None
