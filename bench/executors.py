"""Where cells run on this machine: in this process, or in local worker processes (``--jobs N``).

Executors turn jobs into outcomes and nothing else; the driver alone logs to
MLflow and checks resume keys, so every executor gives the same runs (worker
processes and Ray tasks also draw their cells' figures, returned as PNG
bytes). A job carries what a fresh process needs to rebuild its cell (method
settings, split recipe); datasets travel once per worker (local processes) or
once per sweep (Ray's object store, ``bench.ray_tasks``).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Protocol

from bench.data import Dataset
from bench.errors import BenchError
from bench.execute import Job, Outcome, clear_splits, cores, crashed, execute, init_worker, with_figures
from bench.figures import exit_with_parent
from bench.owner import scratch_prefix

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs jobs, yielding each outcome as it finishes (in any order); ``close`` frees its workers."""

    def run(self, jobs: list[Job]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


def _pool_worker_init(
    parent: int, scratch: str, plugins: tuple[str, ...], threads: int, datasets: Mapping[str, Dataset]
) -> None:
    exit_with_parent(parent)
    init_worker(plugins, threads, datasets)
    global _SCRATCH
    _SCRATCH = scratch


_SCRATCH = ""


def _pool_execute(job: Job) -> Outcome:
    """Run a job in a pool worker, leaving a marker while it runs: a crash then names its cell."""
    marker = Path(_SCRATCH) / f"{job.id}.running"
    marker.touch()
    outcome = with_figures(execute(job), job.cell)
    marker.unlink()
    return outcome


def spawn_pool(workers: int, initializer: Callable[..., None], initargs: tuple) -> ProcessPoolExecutor:
    """Fresh worker processes: spawned, since forking a process that holds torch threads is unsafe."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer, initargs=initargs
    )


class SerialExecutor:
    """Cells one after another in this process, with live epoch progress."""

    def __init__(self, datasets: Mapping[str, Dataset], on_epoch: Callable[[int, int, float], None]) -> None:
        self.datasets = datasets
        self.on_epoch = on_epoch

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield execute(job, self.datasets, self.on_epoch)

    def close(self) -> None:
        clear_splits()


class PoolExecutor:
    """``jobs`` worker processes on this machine, each with ``cores // jobs`` torch threads.

    A worker that dies (killed, out of memory, a crash in native code) takes
    down the pool: the cells it was running are run again one at a time in a
    fresh pool, so the one that kills its process is reported FAILED and the
    cells that were merely beside it finish.
    """

    def __init__(
        self, jobs: int, datasets: Mapping[str, Dataset], plugins: tuple[str, ...], scratch: Path
    ) -> None:
        self.jobs = jobs
        self.datasets = dict(datasets)
        self.plugins = plugins
        self.threads = max(1, cores() // jobs)
        self.scratch = Path(tempfile.mkdtemp(prefix=scratch_prefix("cells"), dir=scratch))

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        args = (os.getpid(), str(self.scratch), self.plugins, self.threads, self.datasets)
        return spawn_pool(workers, _pool_worker_init, args)

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        todo = list(jobs)
        while todo:
            before = len(todo)
            suspects, todo = yield from self._round(todo, self.jobs)
            if not suspects and len(todo) == before:  # e.g. a plugin that fails to import in a worker
                raise BenchError("the worker processes died before running any cell (see the errors above)")
            for job in suspects:  # alone, so that a crash names its cell
                died, _ = yield from self._round([job], 1)
                for dead in died:
                    yield crashed(dead, "killed, out of memory or a crash in native code")

    def _round(self, jobs: list[Job], workers: int) -> Generator[Outcome, None, tuple[list[Job], list[Job]]]:
        """Run ``jobs`` in a fresh pool; after a crash return (the jobs running then, those not started)."""
        for marker in self.scratch.glob("*.running"):
            marker.unlink()
        pool = self._pool(workers)
        futures: dict[Future, Job] = {}
        try:
            for job in jobs:
                futures[pool.submit(_pool_execute, job)] = job
        except BrokenProcessPool:  # a job submitted first has killed its worker already
            pass
        pending = set(futures)
        broken: list[Future] = []
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                broken = [f for f in done if isinstance(f.exception(), BrokenProcessPool)]
                for future in done:
                    if future not in broken:
                        yield future.result()
                if broken:
                    pending |= set(broken)
                    break
        finally:
            if broken or pending:
                # The dead worker may have died holding the result queue's lock; the survivors
                # would then block on it, and the pool's shutdown would wait for them forever.
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
        running = {int(p.name.split(".")[0]) for p in self.scratch.glob("*.running")}
        left = [futures[f] for f in pending] + jobs[len(futures) :]
        return [j for j in left if j.id in running], [j for j in left if j.id not in running]

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def auto_jobs(device: str, cells: int) -> int:
    """``--jobs auto``: one cell per core on CPU (at most 4, each with a core to itself, and only
    for sweeps of at least 8 cells per worker, which pay back the workers' start), 1 on a GPU."""
    if device.startswith("cuda"):
        return 1
    return max(1, min(cores(), 4, cells // 8))


def make_executor(
    kind: str,
    jobs: int,
    datasets: Mapping[str, Dataset],
    plugins: tuple[str, ...],
    scratch: Path,
    on_epoch: Callable[[int, int, float], None],
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float | None = None,
) -> Executor:
    if kind == "ray":
        from bench.ray_tasks import RayExecutor

        return RayExecutor(datasets, plugins, ray_address, cpus_per_cell, gpus_per_cell)
    if kind != "local":
        raise BenchError(f"--executor takes {' or '.join(EXECUTORS)}, not {kind!r}")
    if jobs < 1:
        raise BenchError("--jobs needs at least 1")
    if jobs == 1:
        return SerialExecutor(datasets, on_epoch)
    return PoolExecutor(jobs, datasets, plugins, scratch)
