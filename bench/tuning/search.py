"""``bench tune``: search a method's declared hyperparameters for the best mean validation AUROC.

The pieces, each in its own module: ``bench.tuning.study`` (names, storage, the saved
best), ``bench.tuning.objective`` (what a trial computes), ``bench.tuning.trial_log`` (trials
as MLflow runs, written by this process). This module runs a study end to end: the
tune run, the defaults' baseline (measured once per study on the same splits),
the trials (here, or in ``--jobs N`` spawned processes or Ray tasks sharing the stored
study), the best parameters saved as JSON for ``run --params-from``.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import schema
from bench.config import TuneConfig
from bench.contract.space import decode
from bench.errors import BenchError
from bench.plugins import receive, shipment
from bench.runtime.processes import cores, init_worker, main_left_out
from bench.runtime.ray_cluster import connect_ray, gpus_per_task
from bench.tracking.sqlite import writable_folder
from bench.tracking.tags import KIND_TUNE
from bench.tracking.tracker import Tracker, default_uri
from bench.tuning.objective import TuneSetup, mean_validation_auroc, optimize, short, tune_setup
from bench.tuning.study import Best, best_path, counted, load_best, open_study, storage_url, study_name
from bench.tuning.trial_log import TrialLogger

__all__ = ["Best", "load_best", "run_tune"]


def _tune_run(tracker: Tracker, cfg: TuneConfig, name: str, setup: TuneSetup) -> str:
    """The study's parent run: found again on a resume, created on the first start."""
    return tracker.runs.find_run(KIND_TUNE, schema.STUDY, name) or tracker.log_run(
        name=f"tune {name}",
        tags={
            schema.KIND: KIND_TUNE,
            schema.STUDY: name,
            "method": cfg.method,
            "dataset": cfg.datasets[0],
            "protocol": cfg.protocols[0],
            "classes": ",".join(map(str, setup.classes)),
            "device": setup.device,
        },
        params={
            "storage": storage_url(cfg),
            "search_space": repr(setup.space),
            "fixed": json.dumps(setup.spec.settings),
        },
        metrics={},
        terminate=False,
    )


def _same_data(study: Any, name: str, cfg: TuneConfig, setup: TuneSetup) -> None:
    """A study resumes only on the copy of the data its trials ran on, never mixing two."""
    ran_on = study.user_attrs.get(schema.DATA_DIGEST)
    if ran_on is None:  # a new study (or one from before bench recorded it)
        study.set_user_attr(schema.DATA_DIGEST, setup.data)
    elif ran_on != setup.data:
        raise BenchError(
            f"study {name} ran on another copy of {cfg.datasets[0]} (its files changed since): "
            f"give --study a new name, or delete the study from {storage_url(cfg)}"
        )


def _baseline(study: Any, cfg: TuneConfig, setup: TuneSetup, console: Console) -> float:
    """Validation AUROC of the fixed settings (the defaults otherwise): what tuning must beat."""
    if "default_val_auroc" not in study.user_attrs:  # measured once per study
        started = time.perf_counter()
        value = mean_validation_auroc(setup, setup.spec.settings, cfg.seed)
        study.set_user_attr("default_val_auroc", value)
        console.print(
            f"  defaults   val AUROC {value:.4f} ({time.perf_counter() - started:.0f}s)", markup=False
        )
    return float(study.user_attrs["default_val_auroc"])


def run_tune(cfg: TuneConfig, console: Console | None = None) -> Best:
    """Run (or resume) the study until it holds ``cfg.trials`` finished trials; save and return the best."""
    console = console or Console()
    setup = tune_setup(cfg)
    results = writable_folder(Path(cfg.results))
    name = study_name(cfg)
    tracker = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    study = open_study(cfg, name)
    _same_data(study, name, cfg, setup)
    parent = _tune_run(tracker, cfg, name, setup)
    console.print(
        f"bench tune {name}: {cfg.method} on {cfg.datasets[0]} {cfg.protocols[0]} classes "
        f"{','.join(map(str, setup.classes))}, {counted(study)} of {cfg.trials} trials done; "
        f"storage {storage_url(cfg)}",
        markup=False,
    )
    default_value = _baseline(study, cfg, setup, console)
    log = TrialLogger(tracker, study, name, parent, setup)
    log()  # trials a killed run left unlogged
    if cfg.jobs <= 1 and cfg.executor == "local":
        optimize(cfg, name, setup=setup, callbacks=(log,))
    else:
        console.print(f"  {max(cfg.jobs, 1)} workers share the study ({cfg.executor})", markup=False)
        optimize_in_workers(cfg, name, log)
    log()
    best = _save_best(study, cfg, name, setup, default_value, tracker, parent)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    console.print(
        f"study {name}: {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
        f"{states.count('FAIL')} failed; best val AUROC {best.value:.4f} (trial {study.best_trial.number}), "
        f"defaults {default_value:.4f}",
        markup=False,
    )
    console.print(f"best parameters: {short(best.params)}", markup=False)
    path = best_path(results, name)
    console.print(f"wrote {path}; use them with: python -m bench run --params-from {name} ...", markup=False)
    return best


def _save_best(
    study: Any,
    cfg: TuneConfig,
    name: str,
    setup: TuneSetup,
    default_value: float,
    tracker: Tracker,
    parent: str,
) -> Best:
    import optuna

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise BenchError(f"study {name}: no trial completed (see the FAILED trial runs in MLflow)")
    best = Best(
        method=cfg.method,
        study=name,
        params={**setup.spec.settings, **decode(setup.space, study.best_trial.params)},
        value=float(study.best_trial.value),
        default_value=default_value,
        trials=counted(study),
    )
    path = best_path(Path(cfg.results), name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(best), indent=2, default=list))
    metrics = {"best_val_auroc": best.value, "default_val_auroc": default_value, "trials": best.trials}
    tracker.finish_tune(parent, best.params, metrics=metrics, files={"best.json": str(path)})
    return best


LOG_EVERY_S = 5  # how often the driver logs the trials that workers finished


def optimize_in_workers(cfg: TuneConfig, name: str, log: TrialLogger) -> None:
    """``--jobs N`` local processes or Ray tasks, each running trials of the one stored study;
    meanwhile the driver logs the trials they finish."""
    workers = max(cfg.jobs, 1)
    shipped = shipment([cfg.method], cfg.protocols, cfg.plugins)  # what __main__ registered for it
    if cfg.executor == "ray":
        ray, started_here = connect_ray(cfg.ray_address, worker_output=True)
        try:
            gpus = gpus_per_task(ray, cfg.gpus_per_cell)
            task = ray.remote(_optimize_on_ray)
            task = task.options(num_cpus=cfg.cpus_per_cell, num_gpus=gpus, max_retries=1)
            shared = ray.put(shipped)
            pending = [task.remote(cfg, name, w, shared) for w in range(workers)]
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=LOG_EVERY_S)
                ray.get(done)
                log()
        finally:
            if started_here:
                ray.shutdown()
        return
    setup = (cfg.plugins, max(1, cores() // workers), None, shipped)
    spawned = multiprocessing.get_context("spawn")  # never forked from a process that holds torch threads
    with ProcessPoolExecutor(workers, mp_context=spawned, initializer=init_worker, initargs=setup) as pool:
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
