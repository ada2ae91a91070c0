"""A sweep resolved before any work: methods (each built once), datasets, protocols and cells, as data.

``plan(config)`` checks everything a user can get wrong (names, classes,
hyperparameter types and ranges, tuned parameters) and raises one
``BenchError`` on the first problem, so a bad command ends before any cell
starts and before anything is written. It talks to no tracker: which cells
finished before is the runner's question.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.cell import Cell
from bench.config import RunConfig
from bench.data.dataset import Dataset
from bench.data.protocol import ProtocolInfo, protocol_info, protocol_label, split_mismatch
from bench.nets.device import resolve_device
from bench.plugins import load_plugins
from bench.registry import PROTOCOLS
from bench.sweep.resolve import MethodSpec, check_known, resolve_datasets, resolve_methods, units_of
from bench.sweep.sizes import SplitCheck, check_split, scaled_note

NEED_WORDS = {
    "anomaly_labels": "anomaly labels",
    "class_labels": "class labels",
    "labeled_set": "a labeled set",
}


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
class SweepPlan:
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


def plan(cfg: RunConfig) -> SweepPlan:
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
            mismatch = split_mismatch(info, dataset)
            if mismatch:  # a defect dataset under a class protocol, or the other way round
                label = protocol_label(info.name, opts)
                for spec in methods:
                    na.setdefault(
                        (spec.name, d, label), NotApplicable(spec.name, label, f"n/a: {mismatch}", d)
                    )
                continue
            found, checks = _grid(d, dataset, info, methods, cfg, notes, na)
            cells += found
            splits += checks
    return SweepPlan(
        cfg, device, methods, datasets, tuple(cells), tuple(na.values()), tuple(notes), tuple(splits)
    )


def _grid(
    d: str,
    dataset: Dataset,
    info: ProtocolInfo,
    methods: tuple[MethodSpec, ...],
    cfg: RunConfig,
    notes: list[str],
    na: dict[tuple[str, ...], NotApplicable],
) -> tuple[list[Cell], list[SplitCheck]]:
    """The cells of one dataset under one protocol; what cannot run goes to ``na``, with why."""
    opts = cfg.protocol_options()
    check_known(info, dataset, cfg.known_classes)
    checks = [
        check_split(dataset, info.name, unit, seed, opts)
        for unit in units_of(info, dataset, cfg.classes)
        for seed in cfg.seeds
    ]
    notes += _scaled(d, info.name, checks, opts)
    too_small = _too_small(info, checks, opts.min_test)
    threshold = cfg.threshold
    if info.own_split and threshold == "tuned":  # validation holds normal images alone
        threshold = "own"
        note = (
            f"note: --threshold tuned is n/a on {info.name}: its validation holds good images only, so "
            "its cells report F1 at each method's own rule"
        )
        notes += [] if note in notes else [note]  # said once, however many datasets it splits
    cells = []
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
                cells.append(
                    cell_of(spec, d, info.name, check.unit, check.seed, cfg, opts, dataset, threshold)
                )
    return cells, checks


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
    spec: MethodSpec,
    name: str,
    protocol: str,
    unit: int,
    seed: int,
    cfg: RunConfig,
    opts,
    dataset: Dataset,
    threshold: str,
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
        threshold=threshold,
        tuned_from=spec.tuned_from,
        precision=cfg.precision,
        deterministic=cfg.deterministic,
        fast_kernels=cfg.fast_kernels,
        data=dataset.digest,
        settings=spec.settings,
        pretrained=spec.info.pretrained,
        plugin=spec.info.distribution,
    )
