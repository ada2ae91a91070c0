"""Where cells run on this machine: in local worker processes (``--jobs N``,
``bench.sweep.local_workers``), or, for debugging only, in the sweep's own process (``--in-process``).

Executors turn jobs into outcomes and nothing else; the driver alone logs to
MLflow and checks resume keys, so every executor gives the same runs (each
draws its cells' figures where they ran, as SVG text). Each takes its jobs
from the sweep's ``CellQueue`` (``bench.sweep.order``), which picks the next
cell from what the finished ones cost. A job carries what a fresh process
needs to rebuild its cell (method settings, split recipe); datasets travel
once per worker (local processes) or once per sweep (Ray's object store,
``bench.sweep.ray_tasks``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from bench.cell import Outcome
from bench.data.dataset import Dataset
from bench.errors import BenchError
from bench.runtime.processes import cores
from bench.sweep.job import clear_splits, execute, with_figures
from bench.sweep.local_workers import PoolExecutor
from bench.sweep.order import CellQueue

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Runs the queue's jobs, yielding each outcome as it finishes (in any order), telling the queue
    what each cost; ``close`` frees its workers."""

    def run(self, todo: CellQueue) -> Iterator[Outcome]: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Cells one after another in the sweep's own process (``--in-process``): for a debugger or a
    profiler, with no isolation; a cell that crashes its process ends the sweep."""

    def __init__(self, datasets: Mapping[str, Dataset], on_epoch: Callable[[int, int, float], None]) -> None:
        self.datasets = datasets
        self.on_epoch = on_epoch

    def run(self, todo: CellQueue) -> Iterator[Outcome]:
        while todo:
            job = todo.take()
            outcome = with_figures(execute(job, self.datasets, self.on_epoch), job)
            todo.ran(job.id, outcome.result)
            yield outcome

    def close(self) -> None:
        clear_splits()


def auto_jobs(device: str, cells: int) -> int:
    """``--jobs auto``: one cell per core on CPU (at most 4, each with a core to itself, and only
    for sweeps of at least 8 cells per worker; a smaller sweep runs one worker with every core's
    threads), 1 on a GPU."""
    if device.startswith("cuda"):
        return 1
    return max(1, min(cores(), 4, cells // 8))


def make_executor(
    kind: str,
    jobs: int,
    datasets: Mapping[str, Dataset],
    plugins: tuple[str, ...],
    on_epoch: Callable[[int, int, float], None],
    in_process: bool = False,
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float | None = None,
    shipped: bytes = b"",
) -> Executor:
    """The executor of ``kind``; ``shipped``: what the sweep's ``__main__`` registered for its cells
    (``bench.plugins.shipment``)."""
    if kind == "ray":
        from bench.sweep.ray_tasks import RayExecutor

        return RayExecutor(datasets, plugins, shipped, ray_address, cpus_per_cell, gpus_per_cell)
    if kind != "local":
        raise BenchError(f"--executor takes {' or '.join(EXECUTORS)}, not {kind!r}")
    if jobs < 1:
        raise BenchError("--jobs needs at least 1")
    if in_process:
        return InProcessExecutor(datasets, on_epoch)
    return PoolExecutor(jobs, datasets, plugins, max(1, cores() // jobs), on_epoch, shipped)
