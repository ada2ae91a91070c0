"""A sweep resolved before any work: methods (each built once), datasets, protocols and cells, as data.

``plan(config)`` checks everything a user can get wrong (names, classes,
hyperparameter types and ranges, tuned parameters) and raises one
``BenchError`` on the first problem, so a bad command ends before any cell
starts and before anything is written. It talks to no tracker: which cells
finished before is the runner's question.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunConfig, parse_overrides, variant_label
from bench.contract.method import Method
from bench.contract.params import check_params
from bench.data.dataset import Dataset, DatasetSource
from bench.data.protocol import ProtocolInfo, protocol_info, protocol_label, protocol_units
from bench.errors import BenchError
from bench.nets.device import resolve_device
from bench.plugins import load_plugins
from bench.registry import DATASETS, METHODS, PROTOCOLS, MethodInfo
from bench.sweep.fit_score import Cell
from bench.sweep.sizes import SplitCheck, check_split, scaled_note
from bench.tune.study import load_best

NEED_WORDS = {
    "anomaly_labels": "anomaly labels",
    "class_labels": "class labels",
    "labeled_set": "a labeled set",
}


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


@dataclass(frozen=True)
class NotApplicable:
    """A method that does not run on a protocol: everywhere, or (``dataset`` set) on one dataset's
    splits too small to measure, where ``protocol`` is the protocol's label."""

    method: str
    protocol: str
    reason: str
    dataset: str | None = None


def na_lines(na: tuple[NotApplicable, ...]) -> list[str]:
    """The n/a entries for a console, one line per (dataset, protocol, reason) with its methods."""
    methods: dict[tuple[str, str, str], list[str]] = {}
    for n in na:
        where = f"{n.dataset} {n.protocol}" if n.dataset else n.protocol
        methods.setdefault((where, n.reason), []).append(n.method)
    return [f"  {', '.join(names)} on {where}: {reason}" for (where, reason), names in methods.items()]


@dataclass(frozen=True)
class Plan:
    config: RunConfig
    device: str
    methods: tuple[MethodSpec, ...]
    datasets: dict[str, Dataset]
    cells: tuple[Cell, ...]
    na: tuple[NotApplicable, ...]
    notes: tuple[str, ...] = ()  # what the plan changed in the request, said once before the cells
    splits: tuple[SplitCheck, ...] = ()  # every (dataset, protocol, unit, seed): sizes, or why n/a


def unique(values: tuple | None, flag: str, notes: list[str]) -> tuple | None:
    """``values`` without repeats (first order kept); a note names what was listed twice."""
    if values is None:
        return None
    kept = tuple(dict.fromkeys(values))
    if len(kept) < len(values):
        twice = sorted({v for v in values if values.count(v) > 1}, key=str)
        notes.append(f"note: {flag} lists {', '.join(map(str, twice))} more than once; each cell runs once")
    return kept


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


def plan(cfg: RunConfig) -> Plan:
    """Every cell of ``cfg``, resolved and checked; nothing runs and nothing is written."""
    load_plugins()
    notes: list[str] = []
    cfg = dataclasses.replace(
        cfg,
        **{
            f: unique(getattr(cfg, f), f"--{f}", notes)
            for f in ("methods", "datasets", "protocols", "classes", "seeds")
        },
    )
    methods = resolve_methods(cfg, notes)
    protocols = [
        protocol_info(name) for name in (PROTOCOLS.names() if cfg.protocols == ("all",) else cfg.protocols)
    ]
    sources = resolve_datasets(cfg, notes)  # names first, then files
    # Ray workers resolve `auto` themselves: the driver may have no GPU where they do.
    device = cfg.device if cfg.executor == "ray" else resolve_device(cfg.device)
    datasets = {name: source.load(cfg.data_dir) for name, source in sources.items()}
    notes += [
        f"note: {name}: the files in {ds.source} differ from the published ones (cells record data.checksums)"
        for name, ds in datasets.items()
        if "differs" in ds.checksums
    ]
    opts = cfg.protocol_options()
    cells, na, splits = [], {}, []
    for d, dataset in datasets.items():
        for info in protocols:
            check_known(info, dataset, cfg.known_classes)
            checks = [
                check_split(dataset, info.name, k, seed, opts)
                for k in units_of(info, dataset, cfg.classes)
                for seed in cfg.seeds
            ]
            splits += checks
            notes += _scaled(d, info.name, checks, opts)
            too_small = _too_small(info, checks, opts.min_test)
            for check in checks:
                for spec in methods:
                    missing = spec.info.needs - info.provides
                    if missing:
                        reason = "n/a: needs " + ", ".join(NEED_WORDS.get(n, n) for n in sorted(missing))
                        na.setdefault((spec.name, info.name), NotApplicable(spec.name, info.name, reason))
                    elif check.reason:
                        label = protocol_label(info.name, opts)
                        na.setdefault((spec.name, d, label), NotApplicable(spec.name, label, too_small, d))
                    else:
                        cells.append(cell_of(spec, d, info.name, check.unit, check.seed, cfg, opts, dataset))
    return Plan(cfg, device, methods, datasets, tuple(cells), tuple(na.values()), tuple(notes), tuple(splits))


def _scaled(dataset: str, protocol: str, checks: list[SplitCheck], opts) -> list[str]:
    """The warning line for a protocol whose sizes were scaled to this dataset (said once)."""
    first = next((c.sizes for c in checks if c.sizes is not None), None)
    note = first and scaled_note(dataset, protocol, first, opts)
    return [note] if note else []


def _too_small(info: ProtocolInfo, checks: list[SplitCheck], minimum: int) -> str:
    """Why some of a protocol's cells on a dataset are n/a, in one line: which cells, what they hold."""
    bad = [c for c in checks if c.reason]
    units, seeds = {c.unit for c in bad}, {c.seed for c in bad}
    noun = ("test set", "test sets") if info.test_sets else ("class", "classes")
    where = f"{noun[len(units) > 1]} {spans(units)} ({('seed', 'seeds')[len(seeds) > 1]} {spans(seeds)})"
    sized = [c.sizes for c in bad if c.sizes is not None]
    held = [
        f"{min(counts)}{f'-{max(counts)}' if len(counts) > 1 else ''} {kind}"
        for kind, counts in (
            ("anomalies", {s.test_anomalous for s in sized if s.test_anomalous < minimum}),
            ("normal images", {s.test_normal for s in sized if s.test_normal < minimum}),
        )
        if counts
    ]
    reasons = [f"test splits hold {' and '.join(held)}, fewer than --min-test {minimum}"] if held else []
    reasons += sorted({c.reason for c in bad if c.sizes is None})
    return f"n/a on {where}: {'; '.join(reasons)}"


def spans(values: set[int]) -> str:
    """``{0, 1, 2, 5}`` as ``0-2, 5``."""
    ordered, runs = sorted(values), []
    for v in ordered:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def cell_of(
    spec: MethodSpec, name: str, protocol: str, unit: int, seed: int, cfg: RunConfig, opts, dataset: Dataset
) -> Cell:
    return Cell(
        spec.name,
        spec.params,
        name,
        protocol,
        unit,
        seed,
        opts,
        spec.explicit,
        threshold=cfg.threshold,
        tuned_from=spec.tuned_from,
        precision=cfg.precision,
        data=dataset.digest,
        settings=spec.settings,
        pretrained=spec.info.pretrained,
        plugin=spec.info.distribution,
    )
