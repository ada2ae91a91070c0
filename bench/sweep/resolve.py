"""What a sweep's names resolve to: methods built once with checked settings, the datasets of
``all`` or of a list, the classes a protocol runs, ``--known`` against a dataset's classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunConfig, parse_overrides, variant_label
from bench.contract.method import Method
from bench.contract.params import check_params
from bench.data.dataset import Dataset, DatasetSource
from bench.data.protocol import ProtocolInfo, protocol_units
from bench.errors import BenchError
from bench.registry import DATASETS, METHODS, MethodInfo
from bench.tuning.study import load_best


@dataclass(frozen=True)
class MethodSpec:
    """A method as the sweep runs it: its class, checked settings and the hyperparameters it uses."""

    name: str
    info: MethodInfo
    cls: type[Method]
    settings: dict[str, Any]  # keyword arguments: tuned parameters, then --set overrides
    params: dict[str, Any]  # every hyperparameter as fit uses it: keyed and logged
    explicit: dict[str, Any] = field(default_factory=dict)  # the --set overrides, named in tables
    tuned_from: str | None = None

    @property
    def label(self) -> str:
        return variant_label(self.name, self.explicit, self.tuned_from)


def resolve_method(
    name: str, settings: dict[str, Any], explicit: dict[str, Any] | None = None, tuned_from: str | None = None
) -> MethodSpec:
    """The method ``name`` built once with ``settings``, each checked against its declaration."""
    info, cls = METHODS.get(name)
    checked = check_params(name, cls.hyperparameters(), settings)
    try:
        method = cls(**checked)
    except (TypeError, ValueError) as exc:  # a plugin's own check of its arguments
        raise BenchError(f"--set for {name}: {exc}") from None
    explicit = {k: checked[k] for k in explicit or {}}
    return MethodSpec(name, info, cls, checked, method.effective_params(), explicit, tuned_from)


def resolve_methods(cfg: RunConfig, notes: list[str] | None = None) -> tuple[MethodSpec, ...]:
    """The methods of the sweep, each built once; ``all`` leaves out (with a note) those that cannot
    run here, a method named on purpose that cannot run stops the plan with its install line."""
    names = METHODS.names() if cfg.methods == ("all",) else list(cfg.methods)
    missing = {name: why for name in names if (why := METHODS.get(name)[1].unavailable())}
    if missing and cfg.methods != ("all",):
        name, why = next(iter(missing.items()))
        raise BenchError(f"{name} cannot run here: {why}")
    if missing and notes is not None:
        notes += [f"note: --methods all leaves out {name}: {why}" for name, why in missing.items()]
    names = [n for n in names if n not in missing]
    explicit = parse_overrides(cfg.overrides)
    tuned: dict[str, dict[str, Any]] = {}
    tuned_from: dict[str, str] = {}
    for spec in cfg.params_from:
        best = load_best(spec, Path(cfg.results))
        tuned.setdefault(best.method, {}).update(best.params)
        tuned_from[best.method] = best.study
    for name in (set(explicit) | set(tuned)) - set(names):
        raise BenchError(f"--set or --params-from names method {name!r}, which this sweep does not run")
    return tuple(
        resolve_method(
            name, {**tuned.get(name, {}), **explicit.get(name, {})}, explicit.get(name), tuned_from.get(name)
        )
        for name in names
    )


def resolve_datasets(cfg: RunConfig, notes: list[str]) -> dict[str, DatasetSource]:
    """The sweep's datasets by name; ``all`` is every registered one whose files are here (nothing is
    downloaded for it), the others left out with a note that says why."""
    if cfg.datasets != ("all",):
        return {name: DATASETS.get(name)[1] for name in cfg.datasets}
    sources = {}
    for info, source in DATASETS:
        missing = source.missing(cfg.data_dir)
        if missing:
            notes.append(f"note: --datasets all leaves out {info.name}: {missing}")
        else:
            sources[info.name] = source
    return sources


def units_of(info: ProtocolInfo, dataset: Dataset, classes: tuple[int, ...] | None) -> list[int]:
    """The classes (or test sets) a sweep runs for one dataset and protocol, checked against both."""
    units = protocol_units(info, dataset.n_classes)
    if classes is None:
        return units
    outside = [k for k in classes if k not in units]
    if outside:
        what = "test sets" if info.test_sets else "classes"
        raise BenchError(
            f"--classes {outside[0]} is out of range for {dataset.name} under {info.name} "
            f"({what} {units[0]}..{units[-1]})"
        )
    return list(classes)


def check_known(info: ProtocolInfo, dataset: Dataset, known: tuple[int, ...] | None) -> None:
    """``--known`` against a dataset's classes, for protocols that take it: each one there, and one
    class at least left unknown."""
    if known is None or "known_classes" not in info.options:
        return
    outside = [k for k in known if not 0 <= k < dataset.n_classes]
    if outside:
        raise BenchError(
            f"--known {outside[0]} is not a class of {dataset.name} (classes 0..{dataset.n_classes - 1})"
        )
    if len(set(known)) == dataset.n_classes:
        raise BenchError(
            f"--known names every class of {dataset.name}: {info.name} needs one unknown at least"
        )
