"""Per-cell figures drawn in a worker process while the next cell trains.

Drawing and encoding two PNGs took about half of a cell's time on digits; on
two cores a worker process overlaps it with the next fit. A cell's MLflow run
is created at once but terminated as FINISHED only after its figures are
uploaded, so a sweep killed meanwhile leaves it RUNNING, which resume treats
as not done. The worker exits when the sweep process dies; if the worker dies,
the sweep starts another and draws the lost job itself.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from bench.report import plots
from bench.tracking.sqlite import is_full_disk
from bench.tracking.tracker import Tracker


def exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """In the worker: exit once the sweep process is gone (a SIGKILLed sweep cannot stop it)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def start_worker() -> ProcessPoolExecutor:
    """The figure process, started and importing (torch, matplotlib: about 2 s) while the sweep
    opens its store, instead of after the first cell."""
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a process that holds torch threads
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
    pool.submit(plots.ready)
    return pool


class FigureWorker:
    def __init__(self, tracker: Tracker, scratch: Path, pool: ProcessPoolExecutor | None = None) -> None:
        self.tracker = tracker
        self.scratch = scratch
        self.pool = pool  # started on the first figure where none was started before
        self.pending: list[tuple[str, Future, Path, tuple, int | None]] = []
        self.lost: list[str] = []  # runs whose figures the store could not take (left RUNNING: rerun)

    def submit(
        self,
        run_id: str,
        labels: np.ndarray,
        scores: np.ndarray,
        title: str,
        auroc: float,
        threshold: float | None,
        ended: int | None = None,
    ) -> None:
        """Draw a cell's figures in the figure process; its run ends (at ``ended``, the cell's own
        end) once they are attached."""
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        args = (labels, scores, title, auroc, threshold, str(folder))
        try:
            future = self._pool().submit(plots.render_cell_figures, *args)
        except BrokenProcessPool:  # the worker died (killed from outside): start another
            self.pool = None
            future = self._pool().submit(plots.render_cell_figures, *args)
        self.pending.append((run_id, future, folder, args, ended))

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = start_worker()
        return self.pool

    def drain(self, wait: bool) -> None:
        """Finish the runs whose figures are ready (all of them when ``wait``)."""
        still = []
        for run_id, future, folder, args, ended in self.pending:
            if wait or future.done():
                try:
                    files = future.result()
                except BrokenProcessPool:  # the worker died with this job: draw it here instead
                    files = plots.render_cell_figures(*args)
                try:
                    self.tracker.finish_run(run_id, files, end_time=ended)
                except Exception as exc:
                    if not is_full_disk(exc):
                        raise
                    self.lost.append(run_id)
                shutil.rmtree(folder, ignore_errors=True)
            else:
                still.append((run_id, future, folder, args, ended))
        self.pending = still

    def close(self) -> None:
        try:
            self.drain(wait=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            shutil.rmtree(self.scratch, ignore_errors=True)
