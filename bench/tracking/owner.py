"""Which process owns a run or a scratch folder, and whether that process is still alive.

An owner is ``host:pid:start``, the start time (``started``) telling a live
owner from a later process that reuses its pid. A sweep killed with SIGKILL cannot clean up
after itself; the next sweep on the same results folder and store does it for
it: runs it left RUNNING are marked KILLED, its scratch folders removed.
"""

from __future__ import annotations

import os
import shutil
import socket
from functools import cache
from pathlib import Path

import psutil

# Scratch folders that sweeps of earlier bench made ("figures": before each cell drew its own SVG
# figures; "cells": before its worker pool), removed once their owner is dead.
SCRATCH_KINDS = ("figures", "cells")


@cache
def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{started(os.getpid())}"


def started(pid: int) -> int:
    """When process ``pid`` started, in a unit no clock change moves: on Linux the clock ticks since
    boot that the kernel keeps for it, elsewhere whole seconds since the epoch. (psutil's
    ``create_time`` on Linux adds the boot time, which the kernel derives from the wall clock: a
    clock step, as when a virtual machine resumes, moved it and made live sweeps look dead.)"""
    if not Path("/proc/self/stat").exists():  # not Linux
        return int(psutil.Process(pid).create_time())
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])  # field 22
    except (OSError, ValueError, IndexError) as exc:
        raise psutil.NoSuchProcess(pid) from exc


def alive(owner: str) -> bool | None:
    """Whether ``owner`` still runs; None when it is another host's (this one cannot tell)."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not start.isdigit():
        return None
    try:
        return started(int(pid)) == int(start)
    except psutil.Error:
        return False


def sweep_dead_scratch(results: Path) -> int:
    """Remove the scratch folders under ``results`` whose owner has died; how many went."""
    removed = 0
    for kind in SCRATCH_KINDS:
        for folder in results.glob(f".{kind}-*"):
            parts = folder.name.split("-")
            owner = f"{socket.gethostname()}:{parts[1]}:{parts[2]}" if len(parts) > 3 else ""
            if folder.is_dir() and alive(owner) is False:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
    return removed
