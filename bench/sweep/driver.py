"""The sweep: a plan's cells run by an executor, each logged to MLflow as it finishes; resumable.

``plan`` (``bench.sweep.plan``) has checked and resolved everything before this
module starts any work; the tracker turns each outcome into a run; the
executor decides where cells run. What is left here is the order of things:
skip what finished before, run the rest (each cell with the figures drawn where it ran), log the sweep.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from rich.console import Console

from bench import schema
from bench.cell import Outcome
from bench.config import RunConfig
from bench.errors import BenchError, first_line
from bench.plugins import shipment
from bench.sweep.executors import auto_jobs, make_executor
from bench.sweep.job import Job, extracts_first
from bench.sweep.local_workers import warm_up
from bench.sweep.order import CellQueue, Row, row_of
from bench.sweep.plan import SweepPlan, plan
from bench.sweep.progress import SweepReport, SweepView
from bench.tracking.owner import sweep_dead_scratch
from bench.tracking.sqlite import is_full_disk, writable_folder
from bench.tracking.tracker import Tracker, default_uri

__all__ = ["SweepReport", "execute_plan", "run_sweep"]


def run_sweep(cfg: RunConfig, console: Console | None = None) -> SweepReport:
    """Plan ``cfg`` (every input checked before any work), then run what has not finished before."""
    started = time.perf_counter()
    return execute_plan(plan(cfg), console, started)


def execute_plan(
    swept: SweepPlan, console: Console | None = None, started: float | None = None
) -> SweepReport:
    """Run the plan's cells that the tracking store does not hold as finished; log each one."""
    started = time.perf_counter() if started is None else started
    cfg = swept.config
    shipped = _shipped(swept)
    if swept.cells and cfg.executor == "local" and not cfg.in_process:
        warm_up()  # the workers' imports overlap the store's opening
    results = writable_folder(Path(cfg.results))
    tracker = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    report = SweepReport(sweep_id=time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6], na=swept.na)
    cfg.save(results / f"config-{report.sweep_id}.json")
    cleaned = tracker.close_dead_runs(), sweep_dead_scratch(results)  # what killed sweeps left behind
    finished_runs = tracker.runs.cell_records()  # read once: what to skip, and what rows cost before
    finished = tracker.runs.finished_cells(finished_runs)
    done = set() if cfg.rerun else set(finished)
    todo = (c for c in swept.cells if c.key not in done)
    features = str(results / "features")
    jobs = [Job(i, cell, swept.device, features, cfg.figures) for i, cell in enumerate(todo)]
    report.skipped = len(swept.cells) - len(jobs)
    view = SweepView(console, total=len(swept.cells))
    for note in [*swept.notes, *changed_data(swept, finished.values(), jobs)]:
        view.say(note)
    if any(cleaned):
        view.say(f"note: {cleaned[0]} runs and {cleaned[1]} scratch folders of killed sweeps cleaned up")
    n_jobs = cfg.jobs or auto_jobs(swept.device, len(jobs))
    for line in _headline(swept, report.sweep_id, tracker.uri, len(jobs), n_jobs):
        view.say(line)
    executor = make_executor(
        cfg.executor, n_jobs, swept.datasets, cfg.plugins, view.on_epoch, in_process=cfg.in_process,
        ray_address=cfg.ray_address, cpus_per_cell=cfg.cpus_per_cell, gpus_per_cell=cfg.gpus_per_cell,
        shipped=shipped,
    )  # fmt: skip
    with view, contextlib.closing(executor):
        view.advance(report.skipped)
        rows_left = Counter(row_of(job.cell) for job in jobs)
        for outcome in executor.run(_queue(jobs, tracker.runs.row_seconds(finished_runs), swept)):
            job = jobs[outcome.job_id]
            with _stop_on_full_disk(cfg.tracking_uri or results, report):
                _log(tracker, view, report, job, outcome, once=not cfg.rerun)
            rows_left[row_of(job.cell)] -= 1
            if not rows_left[row_of(job.cell)]:  # readable now, before the sweep ends
                view.row_done(row_of(job.cell), report)
    report.seconds = time.perf_counter() - started
    view.finish(report)
    _close(tracker, cfg.to_json(), report, view)
    return report


def _queue(jobs: list[Job], known: dict[Row, float], swept: SweepPlan) -> CellQueue:
    """The jobs in the order they go out: ``known``, what their rows took before in the experiment,
    and which must first compute a dataset's frozen features (``bench.sweep.order``)."""
    first = {row_of(job.cell): job for job in reversed(jobs)}  # each row's first job
    extracting = {row for row, job in first.items() if extracts_first(job, swept.datasets)}
    return CellQueue(jobs, known, extracting)


def _close(tracker: Tracker, config: str, report: SweepReport, view: SweepView) -> None:
    """The sweep's own run, then the experiment's leaderboard on its page in the MLflow UI with its
    files on that run (``bench leaderboard`` also writes them under results/, with ROC overlays)."""
    from bench.report.board import publish

    try:
        tracker.log_sweep(report.sweep_id, config, report.na, _counts(report))
        if report.ok or report.failed:
            with contextlib.suppress(BenchError):  # no finished cell in the experiment: nothing to rank
                publish(tracker, None, roc_curves=False)
    except Exception as exc:
        if not is_full_disk(exc):
            raise
        view.say(f"  the sweep's own run was not logged: {first_line(exc)}")


def _shipped(swept: SweepPlan) -> bytes:
    """What the sweep's ``__main__`` registered for its cells, for the workers; a method that cannot
    travel stops the sweep here, before anything is written."""
    if swept.config.in_process:
        return b""
    cells = swept.cells
    return shipment([c.method for c in cells], [c.protocol for c in cells], swept.config.plugins)


@contextlib.contextmanager
def _stop_on_full_disk(where: str | Path, report: SweepReport) -> Iterator[None]:
    """A store that cannot take a cell because its disk is full stops the sweep, in one line."""
    try:
        yield
    except Exception as exc:
        if not is_full_disk(exc):
            raise
        raise BenchError(
            f"the disk that holds {where} is full ({len(report.ok) + len(report.failed)} cells logged by "
            "this sweep): "
            "free space there and rerun the same command, which runs only what is left"
        ) from exc


def _headline(swept: SweepPlan, sweep_id: str, uri: str, cells: int, n_jobs: int) -> list[str]:
    """What the sweep is and where its cells run, said before the first cell."""
    cfg = swept.config
    protocols = len({c.protocol for c in swept.cells}) or len(cfg.protocols)  # "all" counted as they are
    lines = [
        f"bench sweep {sweep_id}: {len(swept.methods)} methods x {len(swept.datasets)} datasets x "
        f"{protocols} protocols x {len(cfg.seeds)} seeds on {swept.device}; tracking {uri}"
    ]
    if cfg.executor == "ray":
        lines.append(f"  {cells} cells as Ray tasks ({cfg.ray_address or 'local instance'})")
    elif cfg.in_process:
        lines.append(f"  {cells} cells in this process (--in-process: a cell that crashes ends the sweep)")
    elif n_jobs > 1:
        lines.append(f"  {cells} cells, {n_jobs} at once in worker processes")
    return lines


def changed_data(swept: SweepPlan, finished: Iterable[tuple[str, str]], todo: list[Job]) -> list[str]:
    """A note per dataset with cells to run whose earlier runs here read other files (or came from
    a bench that did not record what they read)."""
    running = {job.cell.dataset for job in todo}
    counts: dict[tuple[str, bool], int] = {}
    for dataset, digest in finished:
        if dataset in running and digest != swept.datasets[dataset].digest:
            counts[dataset, bool(digest)] = counts.get((dataset, bool(digest)), 0) + 1
    why = {True: "read other files of {name} (they changed)", False: "of {name} predate data digests"}
    return [
        f"note: {n} finished runs in this experiment {why[known].format(name=name)}: its cells run anew, "
        "and the leaderboard keeps the old runs apart"
        for (name, known), n in counts.items()
    ]


def _log(
    tracker: Tracker,
    view: SweepView,
    report: SweepReport,
    job: Job,
    outcome: Outcome,
    once: bool,
) -> None:
    """One outcome into the store (a store that cannot take it raises: a full disk stops the sweep)."""
    cell = job.cell
    run_id = tracker.log_cell(cell, outcome, report.sweep_id, once=once)
    if run_id is None:  # a sweep beside this one logged the cell meanwhile
        report.skipped += 1
        view.say(f"  done by another sweep  {cell.label}")
        view.advance()
        return
    report.add(cell, outcome.result)
    view.cell_done(cell, outcome.result)


def _counts(report: SweepReport) -> dict[str, float]:
    return {
        schema.CELLS_OK: len(report.ok),
        schema.CELLS_FAILED: len(report.failed),
        schema.CELLS_SKIPPED: report.skipped,
        schema.WALL_SECONDS: report.seconds,
    }
