"""Shared fixtures: real datasets, a CLI runner, a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from bench.plugins import load_plugins
from bench.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# PyOD's numba helpers compiled once and kept across test sessions (not in the session's own cache).
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "bench-tests-numba"))

load_plugins()


def share_the_cores() -> None:
    """Under pytest-xdist, each worker (and every process it starts) keeps to its own cores, as in a
    container of that size: bench sizes its threads from the cores it may use, so two workers
    do not each start a thread per core of the machine and spin against each other."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count or not hasattr(os, "sched_setaffinity"):
        return
    cores, index = sorted(os.sched_getaffinity(0)), int(worker.removeprefix("gw"))
    mine = cores[index :: int(count)] or [cores[index % len(cores)]]  # more workers than cores: one each
    os.sched_setaffinity(0, mine)
    os.environ["OMP_NUM_THREADS"] = str(len(mine))
    torch.set_num_threads(len(mine))


share_the_cores()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """For pytest-xdist's ``loadgroup``: the tests of a module with a module-scoped fixture (a fit
    shared by its checks) run in one worker, which makes it once; every other test goes to the
    next free worker on its own."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d.scope == "module" for chain in defs for d in chain):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: a run without it (the GPU check) has no such hook
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: a worker per core this process may use (as bench counts them), not per core of the
    host, which a container or a CPU set may narrow."""
    from bench.runtime.processes import cores

    return cores()


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory) -> Path:
    """One bench cache for the session, never the user's: every command a test runs (in this process
    or a fresh one) finds the empty-store template the first one made. Tests of the cache itself
    set ``BENCH_CACHE`` of their own."""
    path = tmp_path_factory.mktemp("bench-cache")
    os.environ["BENCH_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def digits():
    return DATASETS.get("digits")[1].load(None)


def require(what: str, present: bool) -> None:
    """Skip on a developer's machine that lacks ``what``; fail in CI, which installs it."""
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI: .ci/run must install it")
        pytest.skip(f"{what} is not installed (CI installs it)")


@pytest.fixture(scope="session")
def fashion():
    require("dataset-fashion-mnist", (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file())
    return DATASETS.get("fashion-mnist")[1].load(None)


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    """Run ``python -m bench ARGS`` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def bench_main(tmp_path, monkeypatch, capsys):
    """``bench ARGS`` in this process, in ``tmp_path``, answering as ``run_cli`` does: the same code as
    ``python -m bench`` without a fresh interpreter's 3-5 s start (cells still run in worker
    processes). Tests of a process's life (kills, signals, the UI server) use ``run_cli``."""
    from bench.cli.main import main

    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        monkeypatch.chdir(tmp_path)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code = main(list(args))
        said = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, said.out, said.err)

    return call


def ctrl_c_as_at_a_terminal() -> None:
    """``preexec_fn`` for a command a test will send SIGINT to: Python's default Ctrl-C handling,
    even when the test itself runs with SIGINT ignored (a background job of a script, e.g. CI's),
    which the command would otherwise inherit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(base: str, server: subprocess.Popen, timeout: float = 120) -> None:
    """Wait for an MLflow server's ``/health``; fail if it exits or does not answer in time."""
    deadline = time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        assert time.time() < deadline and server.poll() is None, f"the MLflow server at {base} did not start"
        time.sleep(0.2)
