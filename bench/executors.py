"""Where cells run: in this process, in local worker processes (``--jobs N``), or as Ray tasks.

Executors turn jobs into outcomes and nothing else; the driver alone logs to
MLflow and checks resume keys, so every executor gives the same runs (worker
processes and Ray tasks also draw their cells' figures, returned as PNG
bytes). A job carries what a fresh process needs to rebuild its cell (method
settings, split recipe); datasets travel once per worker (local processes) or
once per sweep (Ray's object store). Every cell seeds itself, so results do
not depend on which worker ran it, only, within floating-point noise, on the
number of threads it had.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import plots
from bench.cell import Cell, CellResult, run_cell
from bench.data import Dataset, Split
from bench.device import resolve_device, resolve_precision
from bench.errors import BenchError, first_line
from bench.figures import exit_with_parent
from bench.method import Env
from bench.protocols import make_split, protocol_info
from bench.registry import METHODS, load_plugins, load_user_plugin

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """One cell to run, with the settings that rebuild its method in any process."""

    id: int
    cell: Cell
    settings: dict[str, Any]  # keyword arguments of the method's class (overrides incl. tuned ones)
    device: str  # "auto" is resolved where the job runs (a Ray worker may have a GPU the driver lacks)


@dataclass(frozen=True)
class TestLabels:
    """What the driver logs about the test images: positions, provenance and labels, not pixels."""

    index: np.ndarray
    source: str
    anomaly: np.ndarray
    classes: np.ndarray


@dataclass
class Outcome:
    job_id: int
    result: CellResult
    device: str
    sizes: dict[str, float] = field(default_factory=dict)
    test: TestLabels | None = None
    figures: dict[str, bytes] | None = None  # drawn by the worker; None: the driver has them drawn


def _with_figures(outcome: Outcome, cell: Cell) -> Outcome:
    """Draw the cell's figures where it ran: workers share the drawing, no process lags behind."""
    result = outcome.result
    if result.ok and outcome.test is not None:
        outcome.figures = plots.cell_figures(
            outcome.test.anomaly, result.scores, cell.title, result.metrics["auroc"], result.threshold
        )
    return outcome


# ---- in the process that runs the cell -------------------------------------------------

_DATASETS: dict[str, Dataset] = {}
_SPLITS: dict[tuple, Split] = {}


def _split(job: Job, datasets: Mapping[str, Dataset]) -> Split:
    """The job's split; the last two are kept, since cells of one split arrive together."""
    c = job.cell
    key = (c.dataset, c.protocol, c.cls, c.seed, c.options)
    if key not in _SPLITS:
        while len(_SPLITS) >= 2:
            _SPLITS.pop(next(iter(_SPLITS)))
        _SPLITS[key] = make_split(datasets[c.dataset], c.protocol, c.cls, c.seed, c.options)
    return _SPLITS[key]


def execute(
    job: Job,
    datasets: Mapping[str, Dataset] | None = None,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> Outcome:
    """Build the job's split and method, run the cell; every failure of the cell is in the result."""
    datasets = _DATASETS if datasets is None else datasets
    split = _split(job, datasets)
    info, cls = METHODS.get(job.cell.method)
    device = resolve_device(job.device)
    precision = resolve_precision(job.cell.precision, device)
    env = Env(device=device, seed=job.cell.seed, on_epoch=on_epoch, precision=precision)
    classify = protocol_info(job.cell.protocol).classify
    result = run_cell(cls(**job.settings), info.needs, split, env, job.cell.threshold, classify)
    test = split.test
    labels = TestLabels(test.index, test.source, test.anomaly, test.classes)
    return Outcome(job.id, result, device, split.sizes(), labels)


def init_worker(plugins: tuple[str, ...], threads: int, datasets: Mapping[str, Dataset] | None) -> None:
    """Make a fresh process ready to run jobs: plugins registered, threads set, datasets at hand."""
    load_plugins()
    for spec in plugins:
        load_user_plugin(spec)
    torch.set_num_threads(max(1, threads))
    if datasets is not None:
        _DATASETS.update(datasets)


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
    outcome = _with_figures(execute(job), job.cell)
    marker.unlink()
    return outcome


def _crashed(job: Job, how: str) -> Outcome:
    reason = f"WorkerCrashed: the process running this cell died ({how})"
    return Outcome(job.id, CellResult(ok=False, error=reason, detail=reason), job.device)


# ---- executors -------------------------------------------------------------------------


def spawn_pool(workers: int, initializer: Callable[..., None], initargs: tuple) -> ProcessPoolExecutor:
    """Fresh worker processes: spawned, since forking a process that holds torch threads is unsafe."""
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=initializer, initargs=initargs
    )


def connect_ray(address: str | None, worker_output: bool = False) -> tuple[Any, bool]:
    """Ray, started locally (``address`` None) or joined; and whether this call started it.

    ``worker_output`` shows what tasks print (tune's trial lines); cells report through results.
    """
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install 'ray>=2.9'") from None
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=worker_output)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = first_line(exc) or type(exc).__name__
        raise BenchError(f"cannot start or join Ray at {address or 'a local instance'}: {first}") from None
    return ray, True


class SerialExecutor:
    """Cells one after another in this process, with live epoch progress."""

    def __init__(self, datasets: Mapping[str, Dataset], on_epoch: Callable[[int, int, float], None]) -> None:
        self.datasets = datasets
        self.on_epoch = on_epoch

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield execute(job, self.datasets, self.on_epoch)

    def close(self) -> None:
        _SPLITS.clear()


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
        self.scratch = Path(tempfile.mkdtemp(prefix=".cells-", dir=scratch))

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
                crashed, _ = yield from self._round([job], 1)
                for dead in crashed:
                    yield _crashed(dead, "killed, out of memory or a crash in native code")

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


class RayExecutor:
    """Cells as Ray tasks: a local instance, or the cluster at ``address``.

    Each task asks for ``cpus`` CPUs and ``gpus`` GPUs (fractions share a GPU:
    0.25 runs four cells on one). Datasets go to the object store once. A task
    whose worker dies is retried once by Ray, then reported FAILED; a method's
    own exceptions are already a failed result inside the task.
    """

    def __init__(
        self,
        datasets: Mapping[str, Dataset],
        plugins: tuple[str, ...],
        address: str | None,
        cpus: float,
        gpus: float | None,
    ) -> None:
        ray, self.started_here = connect_ray(address)
        self.ray = ray
        try:
            self.gpus = gpus_per_task(ray, gpus)
        except BenchError:
            self.close()
            raise
        self.cpus = cpus
        self.plugins = plugins
        self.datasets = {name: ray.put(ds) for name, ds in datasets.items()}

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
        ray = self.ray
        task = ray.remote(_ray_execute).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=1)
        refs = {
            task.remote(job, self.datasets[job.cell.dataset], self.plugins, self.cpus): job for job in jobs
        }
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            job = refs[done[0]]
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the worker died, or the task could not run
                yield _crashed(job, f"{type(exc).__name__}: {first_line(exc)}"[:300])

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def gpus_per_task(ray: Any, asked: float | None) -> float:
    """GPUs per Ray task: as asked, 1 by default where the cluster has GPUs, 0 where it has none.

    Asking for GPUs on a cluster without any is an error now: Ray would wait for them forever.
    """
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    if asked and not has_gpu:
        raise BenchError(f"--gpus-per-cell {asked:g}: the Ray cluster has no GPUs")
    return (asked if asked is not None else 1.0) if has_gpu else 0.0


def _ray_execute(job: Job, dataset: Dataset, plugins: tuple[str, ...], cpus: float) -> Outcome:
    global _RAY_READY
    if not _RAY_READY:  # Ray reuses its worker processes: set each up once
        init_worker(plugins, int(max(1, cpus)), None)
        _RAY_READY = True
    return _with_figures(execute(job, {job.cell.dataset: dataset}), job.cell)


_RAY_READY = False


def cores() -> int:
    """CPU cores this process may use (its affinity, which containers narrow, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
) -> SerialExecutor | PoolExecutor | RayExecutor:
    if kind == "ray":
        return RayExecutor(datasets, plugins, ray_address, cpus_per_cell, gpus_per_cell)
    if kind != "local":
        raise BenchError(f"--executor takes {' or '.join(EXECUTORS)}, not {kind!r}")
    if jobs < 1:
        raise BenchError("--jobs needs at least 1")
    if jobs == 1:
        return SerialExecutor(datasets, on_epoch)
    return PoolExecutor(jobs, datasets, plugins, scratch)
