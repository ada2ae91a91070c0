"""Cells and tune workers as Ray tasks, on a local instance or a cluster."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bench.cell import Outcome
from bench.data.dataset import Dataset
from bench.errors import BenchError, first_line
from bench.sweep.job import Job, crashed, execute, init_worker, with_figures


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
        # "local": a new instance of our own, never a stale cluster $RAY_ADDRESS or /tmp/ray names
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=worker_output)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = first_line(exc) or type(exc).__name__
        raise BenchError(f"cannot start or join Ray at {address or 'a local instance'}: {first}") from None
    return ray, True


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

    def run(self, jobs: list[Job]) -> Iterator[Outcome]:
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


def gpus_per_task(ray: Any, asked: float | None) -> float:
    """GPUs per Ray task: as asked, 1 by default where the cluster has GPUs, 0 where it has none.

    Asking for GPUs on a cluster without any is an error now: Ray would wait for them forever.
    """
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    if asked and not has_gpu:
        raise BenchError(f"--gpus-per-cell {asked:g}: the Ray cluster has no GPUs")
    return (asked if asked is not None else 1.0) if has_gpu else 0.0


def _ray_execute(
    job: Job, dataset: Dataset, plugins: tuple[str, ...], cpus: float, shipped: bytes
) -> Outcome:
    global _RAY_READY
    if not _RAY_READY:  # Ray reuses its worker processes: set each up once
        init_worker(plugins, int(max(1, cpus)), None, shipped)
        _RAY_READY = True
    return with_figures(execute(job, {job.cell.dataset: dataset}), job)


_RAY_READY = False
