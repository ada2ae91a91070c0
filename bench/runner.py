"""The sweep: methods x datasets x protocols x classes x seeds, run, logged and resumable."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cell import Cell, CellResult
from bench.config import RunConfig, parse_overrides
from bench.data import Dataset
from bench.device import resolve_device
from bench.errors import BenchError
from bench.executors import Job, Outcome, auto_jobs, make_executor
from bench.figures import FigureWorker
from bench.protocols import ProtocolOptions, protocol_info, protocol_settings, protocol_units
from bench.registry import DATASETS, METHODS, load_plugins
from bench.tracking import KIND_CELL, KIND_SWEEP, Tracker, default_uri, scores_csv
from bench.tune import load_best

EPOCH_LINE_EVERY_S = 30
NEED_WORDS = {
    "anomaly_labels": "anomaly labels",
    "class_labels": "class labels",
    "labeled_set": "a labeled set",
}


@dataclass
class SweepReport:
    sweep_id: str
    ok: list[tuple[Cell, dict[str, float]]] = field(default_factory=list)
    failed: list[tuple[Cell, str]] = field(default_factory=list)
    skipped: int = 0
    na: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def method_settings(cfg: RunConfig) -> tuple[dict[str, dict], dict[str, dict], dict[str, str]]:
    """(explicit --set overrides, all hyperparameter changes incl. tuned ones, study per tuned method)."""
    explicit = parse_overrides(cfg.overrides)
    combined: dict[str, dict] = {}
    tuned_from: dict[str, str] = {}
    for spec in cfg.params_from:
        best = load_best(spec, Path(cfg.results))
        combined.setdefault(best.method, {}).update(best.params)
        tuned_from[best.method] = best.study
    for name, params in explicit.items():
        combined.setdefault(name, {}).update(params)
    return explicit, combined, tuned_from


def method_names(cfg: RunConfig) -> list[str]:
    names = METHODS.names() if cfg.methods == ("all",) else list(cfg.methods)
    _, overrides, _ = method_settings(cfg)
    for name in names:
        _, cls = METHODS.get(name)  # unknown names fail here, before any work
        try:
            cls(**overrides.get(name, {}))
        except TypeError as exc:
            raise BenchError(f"--set for {name}: {exc}") from None
    for name in set(overrides) - set(names):
        raise BenchError(f"--set or --params-from names method {name!r}, which this sweep does not run")
    return names


def _normal_class(cell: Cell) -> str:
    """What is normal in this cell, for the ``normal_class`` tag."""
    if cell.protocol == "leave-one-out":
        return f"not {cell.cls}"
    if protocol_info(cell.protocol).test_sets:
        known = cell.options.known_classes
        return "known classes" + (f" {','.join(map(str, known))}" if known else "")
    return str(cell.cls)


def _cell_tags(cell: Cell, sweep_id: str, device: str, result: CellResult) -> dict[str, str]:
    normal = _normal_class(cell)
    tags = {
        "bench.kind": KIND_CELL,
        "bench.status": "OK" if result.ok else "FAILED",
        "sweep_id": sweep_id,
        "method": cell.method,
        "method_label": cell.label_name,
        "dataset": cell.dataset,
        "protocol": cell.protocol,
        "protocol_label": cell.protocol_label,
        "class": str(cell.cls),
        "normal_class": normal,
        "seed": str(cell.seed),
        "cell_key": cell.key,
        "device": device,
        "threshold_source": result.threshold_source,
    }
    if result.tuned is not None:
        tags["tuned_threshold_source"] = result.tuned.source
    if cell.tuned_from:
        tags["bench.tuned_from"] = cell.tuned_from
    if not result.ok:
        tags["bench.error"] = result.error
    return tags


def _log_cell(tracker: Tracker, figures: FigureWorker, cell: Cell, outcome: Outcome, sweep_id: str) -> None:
    result = outcome.result
    # Prefixed: a method may have a hyperparameter of the same name (PyOD's contamination).
    settings = {f"protocol.{k}": v for k, v in protocol_settings(cell.protocol, cell.options).items()}
    params = {**cell.params, **outcome.sizes, **settings}
    if result.tuned is not None:
        params.update({f"tuned.{k}": v for k, v in result.tuned.params.items()})
    tags = _cell_tags(cell, sweep_id, outcome.device, result)
    if not result.ok:
        tracker.log_run(
            name=cell.label,
            tags=tags,
            params=params,
            metrics={},
            status="FAILED",
            texts={"error.txt": result.detail or result.error},
        )
        return
    test = outcome.test
    run_id = tracker.log_run(
        name=cell.label,
        tags=tags,
        params=params,
        metrics=result.metrics,
        terminate=False,
        texts={"scores.csv": scores_csv(test.index, test.source, test.anomaly, test.classes, result.scores)},
        tables={"open_set_report.json": result.report} if result.report is not None else None,
    )
    if outcome.figures is None:
        auroc = result.metrics["auroc"]
        figures.submit(run_id, test.anomaly, result.scores, cell.title, auroc, result.threshold)
    else:
        figures.finish(run_id, outcome.figures)


def _summary_table(report: SweepReport) -> Table:
    tuned = any("tuned_f1" in metrics for _, metrics in report.ok)
    columns = {"auroc": "AUROC", "auprc": "AUPRC", "f1": "F1"}
    if tuned:
        columns["tuned_f1"] = "tuned F1"
    columns["fit_seconds"] = "fit s"
    table = Table(title=f"sweep {report.sweep_id}: mean test metrics of the cells run now")
    for col in ("method", "dataset", "protocol", "cells", *columns.values()):
        table.add_column(col, justify="left" if col in ("method", "dataset", "protocol") else "right")
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for cell, metrics in report.ok:
        groups.setdefault((cell.label_name, cell.dataset, cell.protocol_label), []).append(metrics)
    for (m, d, p), rows in sorted(groups.items(), key=lambda kv: -np.mean([r["auroc"] for r in kv[1]])):
        means = {k: float(np.nanmean([r.get(k, np.nan) for r in rows])) for k in columns}
        shown = [f"{v:.2f}" if k == "fit_seconds" else f"{v:.3f}" for k, v in means.items()]
        table.add_row(escape(m), d, p, str(len(rows)), *shown)
    return table


def run_sweep(cfg: RunConfig, console: Console | None = None) -> SweepReport:
    """Run every cell of ``cfg`` that has not finished before; log each to MLflow."""
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    load_plugins()
    started = time.perf_counter()
    methods = method_names(cfg)
    explicit, overrides, tuned_from = method_settings(cfg)
    for name in cfg.protocols:
        protocol_info(name)
    sources = {name: DATASETS.get(name)[1] for name in cfg.datasets}
    # Ray workers resolve `auto` themselves: the driver may have no GPU where they do.
    device = cfg.device if cfg.executor == "ray" else resolve_device(cfg.device)
    results = Path(cfg.results)
    tracker = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    report = SweepReport(sweep_id=time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    cfg.save(results / f"config-{report.sweep_id}.json")
    done = set() if cfg.rerun else tracker.finished_cell_keys()
    opts = ProtocolOptions(
        contamination=cfg.contamination,
        anomaly_ratio=cfg.anomaly_ratio,
        known_classes=cfg.known_classes,
        labels=cfg.labels,
    )
    datasets: dict[str, Dataset] = {}
    for name, source in sources.items():
        datasets[name] = source.load(cfg.data_dir)
        for p in cfg.protocols:
            units = protocol_units(protocol_info(p), datasets[name].n_classes)
            if cfg.classes is not None and not set(cfg.classes) <= set(units):
                raise BenchError(f"--classes {max(cfg.classes)} is out of range for {name} under {p}")
    console.print(
        f"bench sweep {report.sweep_id}: {len(methods)} methods x {len(datasets)} datasets x "
        f"{len(cfg.protocols)} protocols x {len(cfg.seeds)} seeds on {device}; "
        f"tracking {tracker.uri}"
    )
    grid = [
        (d, p, k, s)
        for d, ds in datasets.items()
        for p in cfg.protocols
        for k in (cfg.classes if cfg.classes is not None else protocol_units(protocol_info(p), ds.n_classes))
        for s in cfg.seeds
    ]
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    figures = FigureWorker(tracker, Path(tempfile.mkdtemp(prefix=".figures-", dir=results)))
    with progress, contextlib.closing(figures):
        cells_task = progress.add_task("cells", total=len(grid) * len(methods))
        epoch_task = progress.add_task("epochs", total=1, visible=False)

        last_line = [time.monotonic()]

        def on_epoch(epoch: int, epochs: int, loss: float) -> None:
            progress.update(
                epoch_task,
                completed=epoch,
                total=epochs,
                visible=True,
                description=f"epoch (loss {loss:.4g})",
            )
            if progress.disable and time.monotonic() - last_line[0] > EPOCH_LINE_EVERY_S:
                last_line[0] = time.monotonic()  # no live bars: a line now and then for logs
                console.print(f"          epoch {epoch}/{epochs}  loss {loss:.4g}", markup=False)

        jobs: list[Job] = []
        for d, p, k, s in grid:
            provides = protocol_info(p).provides
            for name in methods:
                info, cls = METHODS.get(name)
                missing = info.needs - provides
                if missing:
                    progress.advance(cells_task)
                    reason = "n/a: needs " + ", ".join(NEED_WORDS.get(n, n) for n in sorted(missing))
                    if (name, p, reason) not in report.na:
                        report.na.append((name, p, reason))
                    continue
                settings = overrides.get(name, {})
                cell = Cell(
                    name,
                    cls(**settings).get_params(),
                    d,
                    p,
                    k,
                    s,
                    opts,
                    explicit.get(name, {}),
                    threshold=cfg.threshold,
                    tuned_from=tuned_from.get(name),
                    precision=cfg.precision,
                )
                if cell.key in done:
                    progress.advance(cells_task)
                    report.skipped += 1
                    continue
                jobs.append(Job(len(jobs), cell, settings, device))

        n_jobs = cfg.jobs or auto_jobs(device, len(jobs))
        if cfg.executor == "ray":
            console.print(f"  {len(jobs)} cells as Ray tasks ({cfg.ray_address or 'local instance'})")
        elif n_jobs > 1:
            console.print(f"  {len(jobs)} cells, {n_jobs} at once in worker processes")
        executor = make_executor(
            cfg.executor,
            n_jobs,
            datasets,
            cfg.plugins,
            results,
            on_epoch,
            ray_address=cfg.ray_address,
            cpus_per_cell=cfg.cpus_per_cell,
            gpus_per_cell=cfg.gpus_per_cell,
        )
        with contextlib.closing(executor):
            for outcome in executor.run(jobs):
                cell = jobs[outcome.job_id].cell
                progress.update(epoch_task, visible=False)
                progress.advance(cells_task)
                _log_cell(tracker, figures, cell, outcome, report.sweep_id)
                figures.drain(wait=False)
                result = outcome.result
                if result.ok:
                    report.ok.append((cell, result.metrics))
                    console.print(
                        f"  ok      {cell.label}  AUROC {result.metrics['auroc']:.3f}"
                        f"  ({result.metrics['fit_seconds']:.1f}s fit)",
                        soft_wrap=True,
                        markup=False,
                    )
                else:
                    report.failed.append((cell, result.error))
                    console.print(
                        f"  FAILED  {cell.label}: {result.error}", style="red", soft_wrap=True, markup=False
                    )
    report.seconds = time.perf_counter() - started
    _finish(cfg, tracker, report, console)
    return report


def _finish(cfg: RunConfig, tracker: Tracker, report: SweepReport, console: Console) -> None:
    console.print(_summary_table(report))
    for method, protocol, reason in report.na:
        console.print(f"  {method} on {protocol}: {reason}", markup=False)
    for cell, reason in report.failed:
        console.print(f"  FAILED {cell.label}: {reason}", style="red", markup=False)
    console.print(
        f"{len(report.ok)} cells ok, {len(report.failed)} failed, {report.skipped} already done "
        f"(skipped), {len(report.na)} method/protocol pairs n/a; {report.seconds:.1f}s"
    )
    tracker.log_run(
        name=f"sweep {report.sweep_id}",
        tags={
            "bench.kind": KIND_SWEEP,
            "sweep_id": report.sweep_id,
            "bench.na": json.dumps(report.na),
        },
        params={"config": cfg.to_json()},
        metrics={
            "cells_ok": len(report.ok),
            "cells_failed": len(report.failed),
            "cells_skipped": report.skipped,
            "wall_seconds": report.seconds,
        },
        status="FAILED" if report.failed else "FINISHED",
        texts={"config.json": cfg.to_json()},
    )
