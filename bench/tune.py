"""``bench tune``: search a method's declared hyperparameters for the best mean validation AUROC.

One Optuna study per (method, dataset, protocol, classes), stored in SQLite
under ``results/`` so that a killed study resumes where it stopped (pass an
RDB or journal URL with ``--storage`` when several workers share it). A
trial fits on each class's training split and scores its validation split;
test images are never scored in a trial. After each class
the running mean is reported, and the median pruner stops trials that trail.
The defaults are evaluated once per study on the same splits, as the baseline.
Every trial is an MLflow run nested under the study's tune run, written by
the driver from what the trial left in the Optuna storage, so that ``--jobs N``
workers (processes or Ray tasks) share one study without writing to MLflow.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench.cell import seed_everything, train_data
from bench.config import parse_overrides
from bench.data import Split
from bench.device import resolve_device, resolve_precision
from bench.errors import BenchError
from bench.method import Env, Method
from bench.metrics import auroc
from bench.protocols import ProtocolOptions, make_split, protocol_info, protocol_units
from bench.registry import DATASETS, METHODS, load_plugins, load_user_plugin
from bench.space import decode, suggest_all
from bench.tracking import KIND_TRIAL, KIND_TUNE, Tracker, default_uri

LOG_EVERY_S = 5  # how often the driver logs the trials that workers finished
HEARTBEAT_S = 10  # a trial whose process died is marked failed (and retried once) after 3 missed beats


@dataclass(frozen=True)
class TuneConfig:
    method: str
    dataset: str
    protocol: str = "one-class"
    classes: tuple[int, ...] | None = None
    trials: int = 30
    seed: int = 0
    study: str | None = None
    storage: str | None = None
    results: str = "results"
    tracking_uri: str | None = None
    experiment: str = "bench"
    device: str = "auto"
    precision: str = "auto"
    data_dir: str | None = None
    contamination: float = 0.0
    anomaly_ratio: float = 0.078
    overrides: tuple[str, ...] = field(default_factory=tuple)  # fixed for every trial
    plugins: tuple[str, ...] = field(default_factory=tuple)
    jobs: int = 1  # workers running trials of the one study at once
    executor: str = "local"  # or "ray"
    ray_address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None


@dataclass(frozen=True)
class Best:
    """A study's best parameters, as saved to ``results/tuned/STUDY.json``."""

    method: str
    study: str
    params: dict[str, Any]
    value: float
    default_value: float | None = None
    trials: int = 0


def study_name(cfg: TuneConfig) -> str:
    classes = "all" if cfg.classes is None else "-".join(map(str, cfg.classes))
    return cfg.study or f"{cfg.method}.{cfg.dataset}.{cfg.protocol}.c{classes}.s{cfg.seed}"


def best_path(results: Path, study: str) -> Path:
    return results / "tuned" / f"{study}.json"


def load_best(spec: str, results: Path) -> Best:
    """The saved best parameters named by a JSON file path or by a study name."""
    path = Path(spec) if spec.endswith(".json") else best_path(results, spec)
    if not path.is_file():
        raise BenchError(f"--params-from {spec}: no {path}; run `python -m bench tune` first")
    try:
        data = json.loads(path.read_text())
        best = Best(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise BenchError(f"--params-from {spec}: {path} is not a saved study result ({exc})") from None
    best.params.update({k: tuple(v) for k, v in best.params.items() if isinstance(v, list)})
    return best


def validation_auroc(method: Method, needs: frozenset[str], split: Split, env: Env) -> float:
    """Fit on the training split and return AUROC on the validation split (test stays unseen)."""
    seed_everything(env.seed)
    method.fit(train_data(split, needs), env)
    value = auroc(split.val.anomaly, method.score(split.val.x))
    if not np.isfinite(value):
        raise ValueError(f"validation AUROC is {value}")
    return value


def _storage(url: str) -> Any:
    import optuna

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith(("sqlite", "postgresql", "mysql")):
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and the way to resume
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=3 * HEARTBEAT_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    if url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url))
    raise BenchError(
        f"--storage takes sqlite:///, postgresql:// or mysql:// URLs or a .log journal file, not {url!r}"
    )


@dataclass
class _Setup:
    """What every process that runs trials of one study rebuilds the same way."""

    info: Any
    cls: type[Method]
    fixed: dict[str, Any]
    space: dict[str, Any]
    device: str
    precision: str
    classes: list[int]
    splits: dict[int, Split]


def _setup(cfg: TuneConfig) -> _Setup:
    load_plugins()
    for spec in cfg.plugins:
        load_user_plugin(spec)
    info, cls = METHODS.get(cfg.method)
    if not cls.search_space:
        raise BenchError(f"{cfg.method} declares no search_space, so there is nothing to tune")
    pinfo = protocol_info(cfg.protocol)
    missing = info.needs - pinfo.provides
    if missing:
        raise BenchError(
            f"{cfg.method} needs {', '.join(sorted(missing))}, which {cfg.protocol} does not give"
        )
    fixed = parse_overrides(cfg.overrides)
    if set(fixed) - {cfg.method}:
        raise BenchError(f"--set in tune takes only {cfg.method}.PARAM=VALUE")
    fixed_params = fixed.get(cfg.method, {})
    try:
        cls(**fixed_params)
    except TypeError as exc:
        raise BenchError(f"--set for {cfg.method}: {exc}") from None
    device = resolve_device(cfg.device)
    dataset = DATASETS.get(cfg.dataset)[1].load(cfg.data_dir)
    units = protocol_units(pinfo, dataset.n_classes)
    classes = list(cfg.classes) if cfg.classes is not None else units
    opts = ProtocolOptions(contamination=cfg.contamination, anomaly_ratio=cfg.anomaly_ratio)
    splits = {k: make_split(dataset, cfg.protocol, k, cfg.seed, opts) for k in classes}
    for k, split in splits.items():
        if not split.val.anomaly.any() or split.val.anomaly.all():
            raise BenchError(
                f"{cfg.protocol} class {k}: validation needs normal and anomalous images to tune on"
            )
    return _Setup(
        info=info,
        cls=cls,
        fixed=fixed_params,
        space={k: v for k, v in cls.search_space.items() if k not in fixed_params},
        device=device,
        precision=resolve_precision(cfg.precision, device),
        classes=classes,
        splits=splits,
    )


def _storage_url(cfg: TuneConfig) -> str:
    return cfg.storage or f"sqlite:///{(Path(cfg.results) / 'optuna.db').resolve()}"


def _study(cfg: TuneConfig, name: str, worker: int = 0) -> Any:
    """The stored study, with this worker's sampler (seeded apart, so workers do not propose alike)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=_storage(_storage_url(cfg)),
        study_name=name,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed + 1000 * worker),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )


COUNTED = ("COMPLETE", "PRUNED")


def _counted(study: Any) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=[optuna.trial.TrialState[s] for s in COUNTED]))


def optimize(
    cfg: TuneConfig,
    name: str,
    worker: int = 0,
    setup: _Setup | None = None,
    callbacks: tuple[Callable[..., None], ...] = (),
) -> None:
    """Run trials until the study holds ``cfg.trials`` finished ones; any number of these share a study.

    A trial's per-class AUROCs, time and error go into the study's storage (trial
    user attributes); the driver turns them into MLflow runs (``_TrialLogger``).
    """
    import optuna

    setup = setup or _setup(cfg)
    console = Console(width=None if sys.stdout.isatty() else 160)
    study = _study(cfg, name, worker)
    who = f"w{worker} " if cfg.jobs != 1 or cfg.executor != "local" else ""

    def objective(trial: optuna.Trial) -> float:
        params = {**setup.fixed, **suggest_all(trial, setup.space)}
        started = time.perf_counter()
        per_class: dict[str, float] = {}
        state, error = "COMPLETE", ""
        try:
            for step, k in enumerate(setup.classes):
                env = Env(device=setup.device, seed=cfg.seed, precision=setup.precision)
                per_class[f"val_auroc_class_{k}"] = validation_auroc(
                    setup.cls(**params), setup.info.needs, setup.splits[k], env
                )
                trial.report(float(np.mean(list(per_class.values()))), step)
                if trial.should_prune():
                    state = "PRUNED"
                    raise optuna.TrialPruned()
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            state, error = "FAILED", f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            raise
        finally:
            seconds = time.perf_counter() - started
            trial.set_user_attr("per_class", per_class)
            trial.set_user_attr("seconds", seconds)
            trial.set_user_attr("worker", worker)
            if error:
                trial.set_user_attr("error", error)
            value = float(np.mean(list(per_class.values()))) if per_class else float("nan")
            console.print(
                f"  {who}trial {trial.number:3d} {state:8s} val AUROC {value:.4f} over {len(per_class)} "
                f"classes ({seconds:.0f}s)  {error or _short(params)}",
                markup=False,
                soft_wrap=True,
            )
        return float(np.mean(list(per_class.values())))

    remaining = cfg.trials - _counted(study)
    if remaining > 0:
        states = tuple(optuna.trial.TrialState[s] for s in COUNTED)
        study.optimize(
            objective,
            callbacks=[optuna.study.MaxTrialsCallback(cfg.trials, states=states), *callbacks],
            catch=(Exception,),
            n_trials=remaining + 2,  # room for failed trials; the callback stops at cfg.trials counted
        )


class _TrialLogger:
    """Logs each finished trial of a study once, as an MLflow run nested under the tune run.

    It reads the trials from the Optuna storage, so trials run by other
    processes are logged by the driver too: only the driver writes to MLflow.
    """

    def __init__(self, tracker: Tracker, study: Any, name: str, parent: str, setup: _Setup) -> None:
        self.tracker, self.study, self.name, self.parent, self.setup = tracker, study, name, parent, setup
        self.logged = tracker.trial_numbers(name)

    def __call__(self, *_: Any) -> None:
        states = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAILED"}
        for trial in self.study.get_trials(deepcopy=False):
            if trial.number in self.logged or trial.state.name not in states:
                continue
            state = states[trial.state.name]
            per_class = trial.user_attrs.get("per_class", {})
            error = trial.user_attrs.get("error", "")
            if state == "FAILED" and not error:
                error = "no heartbeat: the process running this trial died"
            self.tracker.log_run(
                name=f"trial {trial.number}",
                tags={
                    "bench.kind": KIND_TRIAL,
                    "bench.study": self.name,
                    "mlflow.parentRunId": self.parent,
                    "trial": str(trial.number),
                    "trial_state": state,
                    "worker": str(trial.user_attrs.get("worker", "")),
                    **({"bench.error": error} if error else {}),
                },
                params={**self.setup.fixed, **decode(self.setup.space, trial.params)},
                metrics={
                    "val_auroc": float(np.mean(list(per_class.values()))) if per_class else float("nan"),
                    **per_class,
                    "trial_seconds": trial.user_attrs.get("seconds", float("nan")),
                },
                status="FAILED" if state == "FAILED" else "FINISHED",
            )
            self.logged.add(trial.number)


def _optimize_in_workers(cfg: TuneConfig, name: str, log: _TrialLogger) -> None:
    """``--jobs N`` local processes or Ray tasks, each running trials of the one stored study;
    meanwhile the driver logs the trials they finish."""
    from bench.executors import connect_ray, cores, gpus_per_task, init_worker, spawn_pool

    workers = max(cfg.jobs, 1)
    if cfg.executor == "ray":
        ray, started_here = connect_ray(cfg.ray_address, worker_output=True)
        try:
            gpus = gpus_per_task(ray, cfg.gpus_per_cell)
            task = ray.remote(optimize).options(num_cpus=cfg.cpus_per_cell, num_gpus=gpus, max_retries=1)
            pending = [task.remote(cfg, name, w) for w in range(workers)]
            while pending:
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=LOG_EVERY_S)
                ray.get(done)
                log()
        finally:
            if started_here:
                ray.shutdown()
        return
    with spawn_pool(workers, init_worker, (cfg.plugins, max(1, cores() // workers), None)) as pool:
        futures = {pool.submit(optimize, cfg, name, w) for w in range(workers)}
        while futures:
            done, futures = wait(futures, timeout=LOG_EVERY_S)
            for future in done:
                future.result()
            log()


def run_tune(cfg: TuneConfig, console: Console | None = None) -> Best:
    """Run (or resume) the study until it holds ``cfg.trials`` finished trials; save and return the best."""
    import optuna

    console = console or Console()
    setup = _setup(cfg)
    results = Path(cfg.results)
    name = study_name(cfg)
    tracker = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    study = _study(cfg, name)
    parent = tracker.find_run(KIND_TUNE, "bench.study", name) or tracker.log_run(
        name=f"tune {name}",
        tags={
            "bench.kind": KIND_TUNE,
            "bench.study": name,
            "method": cfg.method,
            "dataset": cfg.dataset,
            "protocol": cfg.protocol,
            "classes": ",".join(map(str, setup.classes)),
            "device": setup.device,
        },
        params={
            "storage": _storage_url(cfg),
            "search_space": repr(setup.space),
            "fixed": json.dumps(setup.fixed),
        },
        metrics={},
        terminate=False,
    )
    console.print(
        f"bench tune {name}: {cfg.method} on {cfg.dataset} {cfg.protocol} classes "
        f"{','.join(map(str, setup.classes))}, {_counted(study)} of {cfg.trials} trials done; "
        f"storage {_storage_url(cfg)}"
    )

    if "default_val_auroc" not in study.user_attrs:  # the baseline tuning must beat, measured once
        started = time.perf_counter()
        env = Env(device=setup.device, seed=cfg.seed, precision=setup.precision)
        values = [
            validation_auroc(setup.cls(**setup.fixed), setup.info.needs, setup.splits[k], env)
            for k in setup.classes
        ]
        study.set_user_attr("default_val_auroc", float(np.mean(values)))
        console.print(
            f"  defaults   val AUROC {np.mean(values):.4f} ({time.perf_counter() - started:.0f}s)",
            markup=False,
        )
    default_value = float(study.user_attrs["default_val_auroc"])

    log = _TrialLogger(tracker, study, name, parent, setup)
    log()  # trials a killed run left unlogged
    if cfg.jobs == 1 and cfg.executor == "local":
        optimize(cfg, name, setup=setup, callbacks=(log,))
    else:
        console.print(f"  {max(cfg.jobs, 1)} workers share the study ({cfg.executor})")
        _optimize_in_workers(cfg, name, log)
    log()

    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise BenchError(f"study {name}: no trial completed (see the FAILED trial runs in MLflow)")
    best_trial = study.best_trial
    best = Best(
        method=cfg.method,
        study=name,
        params={**setup.fixed, **decode(setup.space, best_trial.params)},
        value=float(best_trial.value),
        default_value=default_value,
        trials=_counted(study),
    )
    path = best_path(results, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(best), indent=2, default=list))
    tracker.finish_tune(
        parent,
        best.params,
        metrics={
            "best_val_auroc": best.value,
            "default_val_auroc": default_value,
            "trials": best.trials,
        },
        files={"best.json": str(path)},
    )
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    console.print(
        f"study {name}: {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
        f"{states.count('FAIL')} failed; best val AUROC {best.value:.4f} (trial {best_trial.number}), "
        f"defaults {default_value:.4f}"
    )
    console.print(f"best parameters: {_short(best.params)}", markup=False)
    console.print(f"wrote {path}; use them with: python -m bench run --params-from {name} ...", markup=False)
    return best


def _short(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
