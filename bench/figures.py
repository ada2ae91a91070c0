"""Per-cell figures drawn in a worker process while the next cell trains.

Drawing and encoding two PNGs took about half of a cell's time on digits; on
two cores a worker process overlaps it with the next fit. A cell's MLflow run
is created at once but terminated as FINISHED only after its figures are
uploaded, so a sweep killed meanwhile leaves it RUNNING, which resume treats
as not done.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench import plots
from bench.tracking import Tracker


class FigureWorker:
    def __init__(self, tracker: Tracker, scratch: Path) -> None:
        self.tracker = tracker
        self.scratch = scratch
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[tuple[str, Future, Path]] = []

    def submit(
        self,
        run_id: str,
        labels: np.ndarray,
        scores: np.ndarray,
        title: str,
        auroc: float,
        threshold: float | None,
    ) -> None:
        if self.pool is None:  # spawn: no fork of a process that holds torch threads
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        future = self.pool.submit(
            plots.render_cell_figures, labels, scores, title, auroc, threshold, str(folder)
        )
        self.pending.append((run_id, future, folder))

    def drain(self, wait: bool) -> None:
        """Finish the runs whose figures are ready (all of them when ``wait``)."""
        still = []
        for run_id, future, folder in self.pending:
            if wait or future.done():
                self.tracker.finish_run(run_id, future.result())
                shutil.rmtree(folder, ignore_errors=True)
            else:
                still.append((run_id, future, folder))
        self.pending = still

    def close(self) -> None:
        try:
            self.drain(wait=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            shutil.rmtree(self.scratch, ignore_errors=True)
