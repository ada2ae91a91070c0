"""Ray for cells and tune's workers: a local instance of bench's own or a cluster joined, and the
GPUs each task asks for."""

from __future__ import annotations

from typing import Any

from bench.errors import BenchError, first_line


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


def gpus_per_task(ray: Any, asked: float | None) -> float:
    """GPUs per Ray task: as asked, 1 by default where the cluster has GPUs, 0 where it has none.

    Asking for GPUs on a cluster without any is an error now: Ray would wait for them forever.
    """
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    if asked and not has_gpu:
        raise BenchError(f"--gpus-per-cell {asked:g}: the Ray cluster has no GPUs")
    return (asked if asked is not None else 1.0) if has_gpu else 0.0
