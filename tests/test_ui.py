"""`bench ui` serves the MLflow UI on 127.0.0.1; headless Chromium sees the runs and their metrics."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import free_port, require, run_cli, wait_until_healthy

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


def test_ui_shows_runs_and_metrics(tmp_path):
    require("chromium", shutil.which("chromium") is not None)
    assert (
        run_cli(
            "run", "--methods", "ae-threshold,pyod-pca", "--classes", "0", "--results", "out", cwd=tmp_path
        ).returncode
        == 0
    )
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench").experiment_id
    run = client.search_runs([exp], "tags.method = 'ae-threshold'")[0]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench", "ui", "--results", "out", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, server)
        listing = chromium("--dump-dom", f"{base}/#/experiments/{exp}/runs", profile=tmp_path / "p1").stdout
        assert "ae-threshold | digits | one-class | class 0 | seed 0" in listing
        assert "pyod-pca | digits | one-class | class 0 | seed 0" in listing
        page = chromium(
            "--dump-dom", f"{base}/#/experiments/{exp}/runs/{run.info.run_id}", profile=tmp_path / "p2"
        ).stdout
        assert "auroc" in page and "fit_seconds" in page
        assert f"{run.data.metrics['auroc']:.4f}".rstrip("0") in page
        shot = tmp_path / "ui.png"
        chromium(f"--screenshot={shot}", f"{base}/#/experiments/{exp}/runs", profile=tmp_path / "p3")
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
