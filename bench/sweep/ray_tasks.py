"""Cells and tune workers as Ray tasks, on a local instance or a cluster."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bench.cell import Outcome
from bench.data.dataset import Dataset
from bench.errors import BenchError, first_line
from bench.runtime.processes import init_worker
from bench.runtime.ray_cluster import connect_ray, gpus_per_task
from bench.sweep.job import Job, crashed, execute, with_figures
from bench.sweep.order import CellQueue


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
        shipped: bytes,
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
        self.shipped = ray.put(shipped)
        self.datasets = {name: ray.put(ds) for name, ds in datasets.items()}

    def run(self, todo: CellQueue) -> Iterator[Outcome]:
        """Every job submitted at once, in the queue's order before any has run (each row's first
        cell, then the rows whole in plan order): Ray's scheduler hands them out from there."""
        jobs = [todo.take() for _ in range(len(todo))]
        ray = self.ray
        task = ray.remote(_ray_execute).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=1)
        refs = {
            task.remote(job, self.datasets[job.cell.dataset], self.plugins, self.cpus, self.shipped): job
            for job in jobs
        }
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            job = refs[done[0]]
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the worker died, or the task could not run
                yield crashed(job, f"{type(exc).__name__}: {first_line(exc)}"[:300])

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _ray_execute(
    job: Job, dataset: Dataset, plugins: tuple[str, ...], cpus: float, shipped: bytes
) -> Outcome:
    global _RAY_READY
    if not _RAY_READY:  # Ray reuses its worker processes: set each up once
        init_worker(plugins, int(max(1, cpus)), None, shipped)
        _RAY_READY = True
    return with_figures(execute(job, {job.cell.dataset: dataset}), job)


_RAY_READY = False
