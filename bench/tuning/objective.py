"""What a tune trial computes: the method fitted on each class's training split, AUROC on validation.

Test images are never scored in a trial. After each class the running mean is
reported, and the median pruner stops trials that trail. Whatever a trial
found (per-class AUROCs, time, error) goes into the study's storage as user
attributes, so that any number of worker processes can share one study while
only the driver writes to MLflow (``bench.tuning.trial_log``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console

from bench import schema
from bench.config import TuneConfig, parse_overrides
from bench.contract.method import Env, Method
from bench.contract.params import check_space
from bench.contract.space import suggest_all
from bench.data.dataset import Split
from bench.data.protocol import make_split, protocol_info
from bench.errors import BenchError
from bench.nets.device import apply_determinism, resolve_device, resolve_precision
from bench.plugins import load_plugins, load_user_plugin
from bench.registry import DATASETS
from bench.scoring.metrics import auroc
from bench.sweep.fit_score import seed_everything, train_data
from bench.sweep.resolve import MethodSpec, resolve_method, units_of
from bench.tuning.study import COUNTED, counted, open_study


@dataclass
class TuneSetup:
    """What every process that runs trials of one study rebuilds the same way."""

    spec: MethodSpec  # the method with the hyperparameters fixed for every trial (--set)
    space: dict[str, Any]  # what trials search: the method's search space less the fixed ones
    device: str
    precision: str
    classes: list[int]
    splits: dict[int, Split]
    data: str = ""  # the dataset's content digest: a study runs on one copy of its data
    deterministic: bool = False
    fast_kernels: bool = False

    def env(self, seed: int) -> Env:
        apply_determinism(self.device, self.deterministic)  # in the process that runs the trial
        return Env(device=self.device, seed=seed, precision=self.precision, fast_kernels=self.fast_kernels)


def tune_setup(cfg: TuneConfig) -> TuneSetup:
    """The study's method, splits and device, every input checked before any trial runs."""
    load_plugins()
    for plugin in cfg.plugins:
        load_user_plugin(plugin)
    fixed = parse_overrides(cfg.overrides)
    if set(fixed) - {cfg.method}:
        raise BenchError(f"--set in tune takes only {cfg.method}.PARAM=VALUE")
    spec = resolve_method(cfg.method, fixed.get(cfg.method, {}), fixed.get(cfg.method))
    if not spec.cls.search_space:
        raise BenchError(f"{cfg.method} declares no search_space, so there is nothing to tune")
    check_space(cfg.method, spec.cls.hyperparameters(), spec.cls.search_space)
    info = protocol_info(cfg.protocols[0])
    missing = spec.info.needs - info.provides
    if missing:
        raise BenchError(f"{cfg.method} needs {', '.join(sorted(missing))}, which {info.name} does not give")
    device = resolve_device(cfg.device)
    dataset = DATASETS.get(cfg.datasets[0])[1].load(cfg.data_dir)
    classes = units_of(info, dataset, cfg.classes)
    opts = cfg.protocol_options()
    splits = {k: make_split(dataset, info.name, k, cfg.seed, opts) for k in classes}
    for k, split in splits.items():
        if not split.val.anomaly.any() or split.val.anomaly.all():
            raise BenchError(
                f"{info.name} class {k}: validation needs normal and anomalous images to tune on"
            )
    return TuneSetup(
        data=dataset.digest,
        spec=spec,
        space={k: v for k, v in spec.cls.search_space.items() if k not in spec.settings},
        device=device,
        precision=resolve_precision(cfg.precision, device),
        deterministic=cfg.deterministic,
        fast_kernels=cfg.fast_kernels,
        classes=classes,
        splits=splits,
    )


def validation_auroc(method: Method, needs: frozenset[str], split: Split, env: Env) -> float:
    """Fit on the training split and return AUROC on the validation split (test stays unseen)."""
    seed_everything(env.seed)
    method.fit(train_data(split, needs), env)
    value = auroc(split.val.anomaly, method.score(split.val.x))
    if not np.isfinite(value):
        raise ValueError(f"validation AUROC is {value}")
    return value


def mean_validation_auroc(setup: TuneSetup, params: dict[str, Any], seed: int) -> float:
    """The baseline a study must beat: ``params`` (the fixed settings) on every class, no pruning."""
    needs = setup.spec.info.needs
    values = [
        validation_auroc(setup.spec.cls(**params), needs, setup.splits[k], setup.env(seed))
        for k in setup.classes
    ]
    return float(np.mean(values))


class Objective:
    """One trial: suggested parameters over the fixed ones, fitted class by class, pruned when it trails."""

    def __init__(self, cfg: TuneConfig, setup: TuneSetup, worker: int) -> None:
        self.cfg, self.setup, self.worker = cfg, setup, worker
        self.console = Console(width=None if sys.stdout.isatty() else 160)
        self.who = f"w{worker} " if cfg.jobs > 1 or cfg.executor != "local" else ""

    def __call__(self, trial: Any) -> float:
        import optuna

        setup = self.setup
        params = {**setup.spec.settings, **suggest_all(trial, setup.space)}
        started = time.perf_counter()
        per_class: dict[str, float] = {}
        state, error = "COMPLETE", ""
        try:
            for step, k in enumerate(setup.classes):
                method = setup.spec.cls(**params)
                value = validation_auroc(
                    method, setup.spec.info.needs, setup.splits[k], setup.env(self.cfg.seed)
                )
                per_class[f"val_auroc_class_{k}"] = value
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
            self._record(trial, per_class, time.perf_counter() - started, state, error, params)
        return float(np.mean(list(per_class.values())))

    def _record(
        self, trial: Any, per_class: dict, seconds: float, state: str, error: str, params: dict
    ) -> None:
        trial.set_user_attr("per_class", per_class)
        trial.set_user_attr("seconds", seconds)
        trial.set_user_attr(schema.WORKER, self.worker)  # the trial run's tag, from the driver
        if error:
            trial.set_user_attr("error", error)
        value = float(np.mean(list(per_class.values()))) if per_class else float("nan")
        self.console.print(
            f"  {self.who}trial {trial.number:3d} {state:8s} val AUROC {value:.4f} over {len(per_class)} "
            f"classes ({seconds:.0f}s)  {error or short(params)}",
            markup=False,
            soft_wrap=True,
        )


def optimize(
    cfg: TuneConfig,
    name: str,
    worker: int = 0,
    setup: TuneSetup | None = None,
    callbacks: tuple[Callable[..., None], ...] = (),
) -> None:
    """Run trials until the study holds ``cfg.trials`` finished ones; any number of these share a study."""
    import optuna

    setup = setup or tune_setup(cfg)
    study = open_study(cfg, name, worker)
    remaining = cfg.trials - counted(study)
    if remaining > 0:
        states = tuple(optuna.trial.TrialState[s] for s in COUNTED)
        study.optimize(
            Objective(cfg, setup, worker),
            callbacks=[optuna.study.MaxTrialsCallback(cfg.trials, states=states), *callbacks],
            catch=(Exception,),
            n_trials=remaining + 2,  # room for failed trials; the callback stops at cfg.trials counted
        )


def short(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
