"""bench from Python: ``bench.run``, ``bench.tune``, ``bench.cells`` and ``bench.leaderboard``
(bundles: ``bench.exchange``).

The command line is a thin layer over these functions (``bench.cli.main`` turns
its flags into their keyword arguments), so a notebook and a terminal take one
path and get the same runs, the same store and the same tables. Bad input raises
``BenchError`` with the line the command line prints after ``bench: error:``.

    import bench
    result = bench.run(methods=["pyod-knn", "ae-threshold"], classes=[0, 1], jobs=2)
    result.cells                      # a DataFrame, one row per cell
    result.leaderboard().board        # leaderboard.csv's numbers
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench import schema
from bench.config import RunConfig, SweepConfig, TuneConfig
from bench.options import config_of
from bench.plugins import load_user_plugin

if TYPE_CHECKING:
    from rich.console import Console

    from bench.report.board import Leaderboard
    from bench.report.cell_figures import Svg
    from bench.sweep.plan import SweepPlan
    from bench.sweep.progress import SweepReport
    from bench.tracking.tables import RunRecord
    from bench.tracking.tracker import Tracker
    from bench.tuning.study import Best

__all__ = ["RunResult", "cells", "leaderboard", "run", "tune"]


@dataclass
class RunResult:
    """What ``bench.run`` did: its config, its plan, the sweep's report (None after a dry run) and
    its ``cells``."""

    config: RunConfig
    plan: SweepPlan = field(repr=False)
    report: SweepReport | None = None

    @functools.cached_property
    def cells(self) -> pd.DataFrame:
        """A DataFrame, one row per cell of the grid, including those finished by an earlier run and
        the n/a ones, read from the store when first asked (the command line never asks); after a
        dry run, the planned cells (status "planned")."""
        return _planned(self.plan) if self.report is None else _cells_of(self.plan)

    @property
    def ok(self) -> bool:
        """Whether every cell that ran finished (a failed cell is a row with status FAILED)."""
        return self.report is not None and not self.report.failed

    def leaderboard(self, roc_curves: bool = True, write: bool = False) -> Leaderboard:
        """The experiment's leaderboard, as ``bench leaderboard`` ranks it (``write``: its files too)."""
        c = self.config
        return leaderboard(
            results=c.results,
            experiment=c.experiment,
            tracking_uri=c.tracking_uri,
            roc_curves=roc_curves,
            write=write,
        )

    def figures(self, row: int | str) -> dict[str, Svg]:
        """A cell's ROC curve and score histogram as SVG (``row``: a position in ``cells`` or a run id),
        drawn from the scores its run logged: the figures its run holds."""
        return cell_figures(self.config, self.cells, row)

    def _repr_html_(self) -> str:
        return self.cells._repr_html_()


def run(*, dry_run: bool = False, console: Console | None = None, **options: Any) -> RunResult:
    """Run the grid methods x datasets x protocols x classes x seeds, as ``bench run`` does: each
    keyword is a flag of ``bench run`` (``classes=[0, 3]``, ``seeds=3``, ``jobs=2``, ``results=...``),
    ``params={"vae-elbo": {"arch": "conv"}}`` sets hyperparameters. Cells finished before are not
    run again (``rerun=True`` runs them). ``dry_run``: plan and show the cells, run nothing."""
    from bench.sweep.driver import execute_plan
    from bench.sweep.plan import plan

    cfg = _config(RunConfig, options)
    swept = plan(cfg)
    if dry_run:
        from bench.sweep.preview import show_plan

        show_plan(swept, console)
        return RunResult(cfg, swept)
    return RunResult(cfg, swept, execute_plan(swept, console))


def tune(*, console: Console | None = None, **options: Any) -> Best:
    """Search one method's hyperparameters for the best validation AUROC, as ``bench tune`` does
    (``method=``, ``dataset=``, ``protocol=``, ``seed=``, ``trials=`` ...); the best parameters,
    also saved for ``bench.run(params_from=[STUDY])``."""
    from bench.tuning.search import run_tune

    return run_tune(_config(TuneConfig, options), console)


def cells(
    results: str | Path = "results", experiment: str = "bench", tracking_uri: str | None = None
) -> pd.DataFrame:
    """Every cell of an experiment in an existing store, one row each (its newest run)."""
    from bench.report.cells import cell_frame
    from bench.tracking.tracker import Tracker

    return cell_frame(_ended(Tracker.existing(results, tracking_uri, experiment)))


def leaderboard(
    results: str | Path = "results",
    experiment: str = "bench",
    tracking_uri: str | None = None,
    roc_curves: bool = True,
    write: bool = True,
) -> Leaderboard:
    """The experiment's leaderboard; with ``write``, its tables and figures also go under ``results``
    (leaderboard.md/.csv, leaderboard_by_class*.csv, figures/) and onto its newest sweep run."""
    from bench.report.board import compute, publish
    from bench.tracking.tracker import Tracker

    tracker = Tracker.existing(results, tracking_uri, experiment)
    return publish(tracker, Path(results), roc_curves)[0] if write else compute(tracker, roc_curves)


def _ended(tracker: Tracker) -> list[RunRecord]:
    """The experiment's cell runs that ended (FINISHED or FAILED), with their parameters."""
    return [r for r in tracker.runs.cell_records(None, params=True) if r.status in ("FINISHED", "FAILED")]


def _config(cls: type[SweepConfig], options: dict[str, Any]) -> Any:
    """The config of ``options``, with the plugins they name loaded (as ``--plugin`` does)."""
    config = config_of(cls, options)
    for plugin in config.plugins:
        load_user_plugin(plugin)
    return config


def _cells_of(swept: SweepPlan) -> pd.DataFrame:
    """The plan's cells as the store holds them now, and its n/a entries."""
    from bench.report.cells import cell_frame
    from bench.tracking.tracker import Tracker

    cfg = swept.config
    keys = {cell.key for cell in swept.cells}
    records = _ended(Tracker.existing(cfg.results, cfg.tracking_uri, cfg.experiment))
    return cell_frame([r for r in records if r.tags.get(schema.CELL_KEY) in keys], _na_rows(swept))


def _na_rows(swept: SweepPlan) -> list[dict[str, Any]]:
    return [
        {"method": n.method, "dataset": n.dataset or "", "protocol": n.protocol, "status": "n/a"}
        | {"error": n.reason}
        for n in swept.na
    ]


def _planned(swept: SweepPlan) -> pd.DataFrame:
    from bench.report.cells import FRONT

    rows = [
        {
            "method": c.label_name,
            "dataset": c.dataset,
            "protocol": c.protocol_label,
            "class": c.unit,
            "seed": c.seed,
            "status": "planned",
            "hyperparameters": dict(c.params),
            schema.CELL_KEY: c.key,
        }
        for c in swept.cells
    ]
    return pd.DataFrame(
        [*rows, *_na_rows(swept)], columns=[*FRONT, "hyperparameters", "error", schema.CELL_KEY]
    )


def cell_figures(cfg: RunConfig, table: pd.DataFrame, row: int | str) -> dict[str, Svg]:
    """The ROC curve and score histogram of one finished cell of ``table``, from its logged scores
    (SVG, which a notebook shows)."""
    import tempfile

    from bench.errors import BenchError
    from bench.report.cell_figures import cell_figures as draw
    from bench.tracking.tracker import Tracker

    found = table[table["run_id"] == row] if isinstance(row, str) else table.iloc[[row]]
    if found.empty or found["status"].iloc[0] != "FINISHED":
        raise BenchError(f"no finished cell {row!r} in this result")
    cell = found.iloc[0]
    tracker = Tracker.existing(cfg.results, cfg.tracking_uri, cfg.experiment)
    with tempfile.TemporaryDirectory() as scratch:
        scores = tracker.runs.cell_scores(cell["run_id"], Path(scratch))
    labels, values = scores["anomaly"].to_numpy(), scores["score"].to_numpy(float)
    title = f"{cell['method']} · {cell['dataset']} · {cell['protocol']} {cell['class']}"
    threshold = cell.get("threshold")
    return draw(labels, values, title, float(cell["auroc"]), None if pd.isna(threshold) else float(threshold))


def _signature(cls: type[SweepConfig], *extra: inspect.Parameter) -> inspect.Signature:
    """Every config field as a keyword with its default: what a notebook's help and completion show."""
    first = ("method", "methods", "datasets", "protocols", "classes", "seeds")  # then ``params``
    ordered = sorted(dataclasses.fields(cls), key=lambda f: first.index(f.name) if f.name in first else 9)
    fields = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in ordered
    ]
    n = sum(f.name in first for f in ordered)
    params = inspect.Parameter("params", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="dict")
    return inspect.Signature([*fields[:n], params, *fields[n:], *extra])


def _keyword(name: str, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)


run.__signature__ = _signature(RunConfig, _keyword("dry_run", False), _keyword("console", None))  # type: ignore[attr-defined]
tune.__signature__ = _signature(TuneConfig, _keyword("console", None))  # type: ignore[attr-defined]
