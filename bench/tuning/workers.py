"""``bench tune --jobs N``: N local processes or Ray tasks, each running trials of one stored study."""

from __future__ import annotations

from concurrent.futures import wait

from bench.config import TuneConfig
from bench.plugins import receive, shipment
from bench.sweep.executors import spawn_pool
from bench.sweep.job import cores, init_worker
from bench.sweep.local_workers import main_left_out
from bench.sweep.ray_tasks import connect_ray, gpus_per_task
from bench.tuning.objective import optimize
from bench.tuning.trial_log import TrialLogger

LOG_EVERY_S = 5  # how often the driver logs the trials that workers finished


def optimize_in_workers(cfg: TuneConfig, name: str, log: TrialLogger) -> None:
    """``--jobs N`` local processes or Ray tasks, each running trials of the one stored study;
    meanwhile the driver logs the trials they finish."""
    workers = max(cfg.jobs, 1)
    if cfg.executor == "ray":
        ray, started_here = connect_ray(cfg.ray_address, worker_output=True)
        try:
            gpus = gpus_per_task(ray, cfg.gpus_per_cell)
            task = ray.remote(_optimize_on_ray)
            task = task.options(num_cpus=cfg.cpus_per_cell, num_gpus=gpus, max_retries=1)
            shipped = ray.put(shipment([cfg.method], cfg.protocols))
            pending = [task.remote(cfg, name, w, shipped) for w in range(workers)]
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=LOG_EVERY_S)
                ray.get(done)
                log()
        finally:
            if started_here:
                ray.shutdown()
        return
    setup = (cfg.plugins, max(1, cores() // workers), None, shipment([cfg.method], cfg.protocols))
    with spawn_pool(workers, init_worker, setup) as pool:
        with main_left_out():  # the pool starts its processes at the first submit
            futures = {pool.submit(optimize, cfg, name, w) for w in range(workers)}
        while futures:
            done, futures = wait(futures, timeout=LOG_EVERY_S)
            for future in done:
                future.result()
            log()


def _optimize_on_ray(cfg: TuneConfig, name: str, worker: int, shipped: bytes) -> None:
    """A Ray task's trials, with what the driver's ``__main__`` registered."""
    receive(shipped)
    optimize(cfg, name, worker)
