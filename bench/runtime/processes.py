"""Processes that run cells or trials: made ready the same way, started without rerunning the
researcher's script, given their share of the cores, and watched for the end of the one that
started them."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping

import torch

from bench.data.dataset import Dataset
from bench.plugins import load_plugins, load_user_plugin, receive
from bench.tracking import owner

WATCH_EVERY_S = 1.0
SIGNAL_HINTS = {
    signal.SIGKILL: "out of memory, or killed from outside",
    signal.SIGSEGV: "a crash in native code",
    signal.SIGBUS: "a crash in native code",
    signal.SIGABRT: "aborted by native code",
    signal.SIGTERM: "terminated from outside",
}

# The datasets a worker was given when it started (a local worker's; a Ray task gets its own).
DATASETS: dict[str, Dataset] = {}


def init_worker(
    plugins: tuple[str, ...],
    threads: int,
    datasets: Mapping[str, Dataset] | None,
    shipped: bytes | None = None,
) -> None:
    """Make a fresh process ready to run jobs: plugins registered (those defined in the sweep's
    ``__main__`` from ``shipped``), threads set, datasets at hand."""
    load_plugins()
    for spec in plugins:
        load_user_plugin(spec)
    receive(shipped)
    torch.set_num_threads(max(1, threads))
    if datasets is not None:
        DATASETS.update(datasets)


def cores() -> int:
    """CPU cores this process may use (its affinity, which containers narrow, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def main_left_out() -> Iterator[None]:
    """Start processes that do not run the starting program's ``__main__`` again.

    multiprocessing's fresh processes import the parent's main script (or ``-m`` module) before their
    target; a script without ``if __name__ == "__main__":`` would start a sweep in every worker, and
    fail. Workers need nothing from it: what it registered travels by value (``bench.plugins.
    shipment``). So while a process starts, ``__main__`` is a bare module with no file to rerun."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def how_it_ended(exitcode: int | None) -> str:
    """A dead worker's end in words: the signal that killed it, or its exit status."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            return f"killed by signal {-exitcode}"
        hint = SIGNAL_HINTS.get(sig)
        return f"killed by {sig.name}" + (f": {hint}" if hint else "")
    return f"exit status {exitcode} before its result: os._exit, or exit() in native code"


def watch_driver(driver: str) -> None:
    """In a worker: exit once the sweep that started it is gone (a SIGKILLed sweep cannot stop it)."""

    def watch() -> None:
        while owner.alive(driver) is not False:
            time.sleep(WATCH_EVERY_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
