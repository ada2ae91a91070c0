"""What killed sweeps leave behind is cleaned by the next one: RUNNING runs, scratch folders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil
import pytest

from bench.tracking import owner
from bench.tracking.tags import KIND_CELL
from bench.tracking.tracker import Tracker, default_uri


def dead_owner() -> str:
    """The owner string of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = owner.started(proc.pid)
    proc.kill()
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:{start}"


def test_owners_alive_dead_and_elsewhere():
    assert owner.alive(owner.me()) is True
    assert owner.alive(dead_owner()) is False
    assert owner.alive("another-host:1:1") is None, "another host's processes cannot be judged here"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="clock ticks since boot: Linux's /proc")
def test_a_clock_step_does_not_make_a_live_owner_look_dead(monkeypatch):
    """psutil derives a process's start from the wall clock, which a step moves (an NTP correction, a
    virtual machine resumed): a sweep's workers then took it for dead and left mid-cell. Its owner
    is judged by the kernel's clock ticks instead, which no step moves."""
    me = owner.me()
    stepped = psutil.Process.create_time
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: stepped(self) + 3600.0)
    assert owner.alive(me) is True
    assert owner.started(os.getpid()) == int(me.rsplit(":", 1)[1])


def test_runs_of_dead_sweeps_are_marked_killed_and_live_ones_kept(tmp_path):
    tracker = Tracker(default_uri(tmp_path), "bench", tmp_path / "artifacts")
    ids = {
        who: tracker.log_run(
            name=who,
            tags={"bench.kind": KIND_CELL, "bench.tracking.owner": tag, "cell_key": who},
            params={},
            metrics={},
            terminate=False,
        )
        for who, tag in (("dead", dead_owner()), ("alive", owner.me()), ("elsewhere", "other-host:1:1"))
    }
    assert tracker.close_dead_runs() == 1
    status = {who: tracker.client.get_run(run_id).info.status for who, run_id in ids.items()}
    assert status == {"dead": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING"}


def test_scratch_folders_of_dead_owners_are_removed(tmp_path):
    _, pid, start = dead_owner().split(":")
    dead = tmp_path / f".figures-{pid}-{start}-abc"
    _, pid, start = owner.me().split(":")
    mine = tmp_path / f".cells-{pid}-{start}-def"
    other = tmp_path / ".figures-notapid"
    for folder in (dead, mine, other):
        folder.mkdir()
    assert owner.sweep_dead_scratch(tmp_path) == 1
    assert not dead.exists() and mine.exists() and other.exists()
