"""``bench ui``: the MLflow UI on 127.0.0.1 against the results store, with its link (to the
leaderboard view of the experiment meant) printed only once it answers, and stopped whole (server
and workers) by Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.errors import BenchError
from bench.tracking.sqlite import remove_stray_folders
from bench.tracking.tracker import Tracker, default_uri

START_TIMEOUT_S = 120


def check_port(port: int) -> None:
    """A port bench may serve on: in range and free on 127.0.0.1, else one line saying why not."""
    if not 1 <= port <= 65535:
        raise BenchError(f"--port takes a port from 1 to 65535, not {port}")
    with socket.socket() as probe:
        # As servers bind: a port whose last connections linger in TIME_WAIT is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BenchError(
                f"--port {port}: 127.0.0.1:{port} is taken ({exc.strerror}), by another program or "
                "another `bench ui`; pick another port"
            ) from None


def leaderboard_link(
    results: Path, tracking_uri: str | None, experiment: str | None, base: str
) -> tuple[str, str]:
    """The store's URI and the link to print: the runs page of ``experiment`` (else the one whose
    cell run is newest) on the leaderboard view, saved on it now (an imported experiment had none).
    No experiment is made: a store without cell runs, or without ``experiment``, is one line."""
    from bench.report.experiment_page import view_metrics
    from bench.tracking.experiment import experiment_to_show, runs_url

    if not tracking_uri and not (results / "mlflow.db").is_file():
        raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
    uri = tracking_uri or default_uri(results)
    tracker = Tracker(uri, experiment_to_show(uri, experiment), results / "artifacts")
    tracker.show_leaderboard(view_metrics(tracker.runs.cell_table()))
    return uri, runs_url(base, tracker.experiment_id)


def serve(uri: str, url: str, port: int, artifacts: Path) -> int:
    """Run the MLflow UI until it ends or this process is told to stop; 0 on a requested stop."""
    check_port(port)
    mlflow = shutil.which("mlflow")
    cmd = [mlflow] if mlflow else [sys.executable, "-m", "mlflow"]
    cmd += ["ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ}
    env.setdefault("MLFLOW_DEFAULT_ARTIFACT_ROOT", artifacts.resolve().as_uri())
    # The UI runs no server-side jobs (GenAI evaluations): no job runner, one MLflow process fewer.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    server = None

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # SIGTERM stops it as Ctrl-C does
    try:
        # Its own process group: the server's workers go with it, whatever ends this process.
        server = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_end_with_parent)
        _wait_until_up(f"http://127.0.0.1:{port}", server)
        remove_stray_folders(uri)  # the server's MLflow makes one too
        print(f"MLflow UI (store {uri}); the runs: {url}", flush=True)
        code = server.wait()
        raise BenchError(f"the MLflow UI server stopped (exit status {code})")
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            _stop(server)
            remove_stray_folders(uri)


def _end_with_parent() -> None:
    """In the server, before it starts: a SIGTERM when `bench ui` dies, even by SIGKILL (Linux)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not Linux: Ctrl-C and SIGTERM still stop it
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"the MLflow UI server did not start (exit status {server.returncode})")
        try:
            if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the MLflow UI server did not answer on {base} within {START_TIMEOUT_S} s")


def _stop(server: subprocess.Popen) -> None:
    """The server's whole process group: asked to end, then killed if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # the leader has gone; its workers may not have
            os.killpg(server.pid, signal.SIGKILL)
        return
