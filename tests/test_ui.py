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

import pandas as pd
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


def test_ui_opens_on_the_leaderboard(tmp_path, bench_main):
    """The link `bench ui` prints opens the runs page on bench's leaderboard view: cell runs only,
    grouped into leaderboard rows whose mean AUROC is the leaderboard's, in descending order; the
    page shows the leaderboard table from the experiment's description; a run's page shows its
    metrics. The experiment carries MLflow's model-training kind."""
    require("chromium", shutil.which("chromium") is not None)
    sweep = bench_main(
        "run", "--methods", "ae-threshold,pyod-pca,pyod-knn", "--classes", "0,1", "--results", "out"
    )
    assert sweep.returncode == 0, sweep.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("bench")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    run = client.search_runs([experiment.experiment_id], "tags.method = 'ae-threshold'")[0]
    board = bench_main("leaderboard", "--results", "out", "--no-roc")
    assert board.returncode == 0, board.stderr
    means = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("method")["auroc_mean"]
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
        view = "viewStateShareKey=bench-leaderboard&workflowType=machine_learning"
        assert url == f"{base}/#/experiments/{experiment.experiment_id}/runs?{view}"
        shot = tmp_path / "ui.png"
        listing = chromium("--dump-dom", f"--screenshot={shot}", url, profile=tmp_path / "p1").stdout
        groups = re.findall(r"Group: method_label: ([\w-]+), dataset: digits, protocol: one-class", listing)
        aurocs = _column(listing, "metrics.`auroc`", average=True)  # the group rows' AUROC, top down
        assert groups and sorted(groups) == sorted(means.index), listing[-2000:]
        assert aurocs == sorted(aurocs, reverse=True), "rows in descending mean AUROC"
        assert aurocs == pytest.approx([means[g] for g in groups], abs=1e-9)
        assert listing.count("| digits | one-class | class ") == 6 and "sweep 2" not in listing, (
            "cell runs only"
        )
        assert "Model registry" in listing and "Observability" not in listing  # the model-training view
        # The description: the leaderboard table, its footnote and links to the per-class table.
        assert "<th>AUROC</th>" in listing and "Cells by provenance" in listing
        assert "AUROC by class</a>" in listing and "leaderboard/leaderboard_by_class.md" in listing
        page = chromium(
            "--dump-dom",
            f"{base}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}",
            profile=tmp_path / "p2",
        ).stdout
        assert "auroc" in page and "fit_seconds" in page
        assert str(run.data.metrics["auroc"])[:6] in page  # as logged, however the page rounds it
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


def _column(dom: str, column: str, average: bool) -> list[float]:
    """The values of a column of the UI's runs table, in the order its rows show: those of group
    rows (a group's mean, marked "(average)") or of run rows."""
    values = []
    for cell in dom.split('role="gridcell"')[1:]:
        found = re.search(r'class="ag-cell-value">(?:<span[^>]*>)?([\d.]+)', cell)
        if f'col-id="{column}"' in cell.split(">", 1)[0] and found and ("(average)" in cell) == average:
            values.append(float(found.group(1)))
    return values


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None
