"""Cells run in worker processes: whatever a cell does to its process fails that cell alone, with
how it ended; a real Ctrl-C still stops the sweep, workers and all, and the rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from tests.conftest import ROOT, ctrl_c_as_at_a_terminal, run_cli
from tests.test_cli import cell_runs, wait_for, wait_until

BROKEN = str(ROOT / "tests" / "plugins" / "broken_methods.py")
pytestmark = pytest.mark.slow
CRASHES = {
    "test-segfault": "WorkerCrashed: the process running this cell died (killed by SIGSEGV: a crash in "
    "native code)",
    "test-os-exit": "WorkerCrashed: the process running this cell died (exit status 3 before its result: "
    "os._exit, or exit() in native code)",
    "test-sys-exit": "SystemExit: 3",
    "test-ctrl-c": "KeyboardInterrupt",
    "test-cuda-error": "RuntimeError: CUDA error: an illegal memory access was encountered (injected)",
}


def test_every_way_a_cell_ends_its_process_fails_that_cell_alone(tmp_path):
    """A segfault, os._exit, sys.exit, a method's own KeyboardInterrupt and a CUDA error each fail
    their cell with what happened; the cells after them run; a CUDA error retires its worker."""
    methods = "test-segfault,test-os-exit,test-sys-exit,test-ctrl-c,test-pid,test-pid-again,"
    methods += "test-cuda-error,test-pid-after,pyod-pca"  # in this order, in one worker at a time
    res = run_cli(
        "--plugin", BROKEN, "run", "--methods", methods, "--classes", "0", "--results", "out", cwd=tmp_path
    )
    assert res.returncode == 1, res.stderr
    assert "4 cells ok, 5 failed" in res.stdout
    failed = {r.data.tags["method"]: r for r in cell_runs(tmp_path / "out", status="FAILED")}
    assert {m: r.data.tags["bench.error"] for m, r in failed.items()} == CRASHES
    assert all(r.data.tags["bench.status"] == "FAILED" for r in failed.values())
    assert all(r.info.run_name.startswith("FAILED · ") for r in failed.values()), "told apart in the UI"
    ok = {r.data.tags["method"]: r.data.metrics for r in cell_runs(tmp_path / "out")}
    assert sorted(ok) == ["pyod-pca", "test-pid", "test-pid-after", "test-pid-again"]
    assert ok["test-pid"]["worker_pid"] == ok["test-pid-again"]["worker_pid"], "a worker runs many cells"
    assert ok["test-pid-after"]["worker_pid"] != ok["test-pid"]["worker_pid"], "not after a CUDA error"
    assert ok["pyod-pca"]["auroc"] > 0.9


def test_a_killed_worker_fails_its_cell_and_ctrl_c_stops_the_sweep_whole(tmp_path):
    """kill -9 of the worker running a cell: that cell FAILED (SIGKILL), the sweep goes on. Then a
    Ctrl-C, as a terminal sends it to the whole process group: the sweep stops with its one line and
    leaves no process behind; the same command then runs what is left."""
    gate = tmp_path / "gate"
    gate.mkdir()
    args = ["--plugin", BROKEN, "run", "--methods", "test-gate,pyod-pca", "--classes", "0,1"]
    args += ["--results", "out"]
    env = {**os.environ, "BENCH_TEST_GATE": str(gate)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    try:
        wait_for(gate / "started", proc)  # class 0's gate cell holds its worker
        worker = psutil.Process(int((gate / "started").read_text()))
        (gate / "started").unlink()
        worker.kill()
        # a fresh worker ran pyod-pca's row whole (measured, it is cheaper than the gate's row, whose
        # first cell never reported) and holds class 1's gate cell
        wait_for(gate / "started", proc)
        wait_until(lambda: len(cell_runs(tmp_path / "out")) == 2, proc, "pyod-pca's cells were logged")
        family = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # a failed step above must not leave a sweep held at the gate
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "bench: interrupted; rerun the same command to resume"
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, "no worker or forkserver outlives the sweep"
    assert "FAILED  test-gate | digits | one-class | class 0 | seed 0: WorkerCrashed: the process " in out
    assert "died (killed by SIGKILL: out of memory, or killed from outside)" in out
    assert [r.data.tags["method"] for r in cell_runs(tmp_path / "out")] == ["pyod-pca"] * 2

    (gate / "release").touch()
    res = run_cli(*args, cwd=tmp_path, env={"BENCH_TEST_GATE": str(gate)})
    assert res.returncode == 0, res.stderr
    assert "2 cells ok, 0 failed, 2 already done" in res.stdout
    assert len(cell_runs(tmp_path / "out")) == 4
