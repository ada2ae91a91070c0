"""``bench tune``: search a method's declared hyperparameters for the best mean validation AUROC.

One Optuna study per (method, dataset, protocol, classes), stored in SQLite
under ``results/`` so that a killed study resumes where it stopped (pass an
RDB or journal URL with ``--storage`` when several workers share it). A
trial fits on each class's training split and scores its validation split;
test images are never scored in a trial. After each class
the running mean is reported, and the median pruner stops trials that trail.
The defaults are evaluated once per study on the same splits, as the baseline.
Every trial is an MLflow run nested under the study's tune run.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench.cell import seed_everything, train_data
from bench.config import parse_overrides
from bench.data import Split
from bench.device import resolve_device
from bench.errors import BenchError
from bench.method import Env, Method
from bench.metrics import auroc
from bench.protocols import ProtocolOptions, make_split, protocol_info, protocol_units
from bench.registry import DATASETS, METHODS, load_plugins
from bench.space import decode, suggest_all
from bench.tracking import KIND_TRIAL, KIND_TUNE, Tracker, default_uri

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
    data_dir: str | None = None
    contamination: float = 0.0
    anomaly_ratio: float = 0.078
    overrides: tuple[str, ...] = field(default_factory=tuple)  # fixed for every trial


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


def run_tune(cfg: TuneConfig, console: Console | None = None) -> Best:
    """Run (or resume) the study until it holds ``cfg.trials`` finished trials; save and return the best."""
    import optuna

    console = console or Console()
    load_plugins()
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
    space = {k: v for k, v in cls.search_space.items() if k not in fixed_params}
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

    results = Path(cfg.results)
    name = study_name(cfg)
    storage_url = cfg.storage or f"sqlite:///{(results / 'optuna.db').resolve()}"
    tracker = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=_storage(storage_url),
        study_name=name,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    parent = tracker.find_run(KIND_TUNE, "bench.study", name) or tracker.log_run(
        name=f"tune {name}",
        tags={
            "bench.kind": KIND_TUNE,
            "bench.study": name,
            "method": cfg.method,
            "dataset": cfg.dataset,
            "protocol": cfg.protocol,
            "classes": ",".join(map(str, classes)),
            "device": device,
        },
        params={"storage": storage_url, "search_space": repr(space), "fixed": json.dumps(fixed_params)},
        metrics={},
        terminate=False,
    )
    done = len(study.get_trials(deepcopy=False, states=counted))
    console.print(
        f"bench tune {name}: {cfg.method} on {cfg.dataset} {cfg.protocol} classes "
        f"{','.join(map(str, classes))}, {done} of {cfg.trials} trials done; storage {storage_url}"
    )

    if "default_val_auroc" not in study.user_attrs:  # the baseline tuning must beat, measured once
        started = time.perf_counter()
        values = [
            validation_auroc(cls(**fixed_params), info.needs, splits[k], Env(device=device, seed=cfg.seed))
            for k in classes
        ]
        study.set_user_attr("default_val_auroc", float(np.mean(values)))
        console.print(
            f"  defaults   val AUROC {np.mean(values):.4f} ({time.perf_counter() - started:.0f}s)",
            markup=False,
        )
    default_value = float(study.user_attrs["default_val_auroc"])

    def objective(trial: optuna.Trial) -> float:
        params = {**fixed_params, **suggest_all(trial, space)}
        started = time.perf_counter()
        per_class: dict[str, float] = {}
        state, error = "COMPLETE", ""
        try:
            for step, k in enumerate(classes):
                env = Env(device=device, seed=cfg.seed)
                per_class[f"val_auroc_class_{k}"] = validation_auroc(
                    cls(**params), info.needs, splits[k], env
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
            value = float(np.mean(list(per_class.values()))) if per_class else float("nan")
            console.print(
                f"  trial {trial.number:3d} {state:8s} val AUROC {value:.4f} over {len(per_class)} classes "
                f"({time.perf_counter() - started:.0f}s)  {error or _short(params)}",
                markup=False,
                soft_wrap=True,
            )
            tracker.log_run(
                name=f"trial {trial.number}",
                tags={
                    "bench.kind": KIND_TRIAL,
                    "bench.study": name,
                    "mlflow.parentRunId": parent,
                    "trial": str(trial.number),
                    "trial_state": state,
                    **({"bench.error": error} if error else {}),
                },
                params=params,
                metrics={"val_auroc": value, **per_class, "trial_seconds": time.perf_counter() - started},
                status="FAILED" if state == "FAILED" else "FINISHED",
            )
        return float(np.mean(list(per_class.values())))

    remaining = cfg.trials - done
    if remaining > 0:
        study.optimize(
            objective,
            callbacks=[optuna.study.MaxTrialsCallback(cfg.trials, states=counted)],
            catch=(Exception,),
            n_trials=remaining + 2,  # room for failed trials; the callback stops at cfg.trials counted
        )
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        raise BenchError(f"study {name}: no trial completed (see the FAILED trial runs in MLflow)")
    best_trial = study.best_trial
    best = Best(
        method=cfg.method,
        study=name,
        params={**fixed_params, **decode(space, best_trial.params)},
        value=float(best_trial.value),
        default_value=default_value,
        trials=len(study.get_trials(deepcopy=False, states=counted)),
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
