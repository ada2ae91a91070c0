"""A store's leaderboard: its tables, statistics and figures, in memory and as files.

``Leaderboard`` holds what ``bench leaderboard`` writes (the DataFrames behind
``leaderboard.md/.csv`` and ``leaderboard_by_class*.csv``, the Friedman tests, the
figures as matplotlib figures); ``publish`` writes it under ``results/`` and attaches
it to the experiment's newest sweep run in MLflow (folder ``leaderboard/``, the table
also as an MLflow table artifact that the UI shows), so the UI and the files agree.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.report import leaderboard, plots, stats
from bench.report.by_class import by_class, current_copies, older_copies_note
from bench.report.experiment_page import FOLDER, description, view_metrics
from bench.report.provenance_note import provenance_note
from bench.tracking.tags import KIND_SWEEP
from bench.tracking.tracker import Tracker

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Leaderboard:
    """An experiment's ranking: ``board`` is leaderboard.csv, ``by_class`` and ``by_class_std`` are
    leaderboard_by_class{,_std}.csv, ``cells`` the runs ranked (the newest of each cell)."""

    board: pd.DataFrame
    by_class: pd.DataFrame
    by_class_std: pd.DataFrame
    cells: pd.DataFrame
    tests: dict[str, stats.Friedman]
    note: str
    tracker: Tracker = field(repr=False)
    roc_curves: bool = True

    @functools.cached_property
    def figures(self) -> dict[str, Figure]:
        """Every figure ``bench leaderboard`` draws, by file name: heatmaps, critical-difference
        diagrams and (with ``roc_curves``) the per-class ROC overlays read from the runs' scores."""
        figures = _figures(self.cells, self.tests)
        return {**figures, **_roc_overlays(self.tracker, self.cells)} if self.roc_curves else figures

    def write(self, results: Path) -> list[Path]:
        """The tables and figures as files under ``results``; every path written."""
        classes = (self.by_class, self.by_class_std)
        paths = leaderboard.write(self.board, self.cells, results, self.tests, self.note, classes)
        figures = results / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        return paths + _save(figures, self.figures)

    def _repr_html_(self) -> str:  # a notebook shows the board
        return self.board._repr_html_()


def compute(tracker: Tracker, roc_curves: bool = True) -> Leaderboard:
    """The leaderboard of ``tracker``'s experiment, as ``bench leaderboard`` ranks it."""
    finished, failed = tracker.runs.cell_table(), tracker.runs.cell_table("FAILED")
    current = current_copies(finished, failed)  # a dataset's runs of older copies are kept apart
    cells = leaderboard.latest_per_cell(finished, current)
    failed = leaderboard.latest_per_cell(failed, current)
    board = leaderboard.leaderboard(cells, [tuple(n) for n in tracker.runs.sweep_notes()], failed)
    if board.empty:
        raise BenchError(f"experiment {tracker.experiment_name!r} has no finished cells yet")
    tests = leaderboard.friedman_by_protocol(cells)
    notes = (older_copies_note(finished, current), provenance_note(cells))
    note = "\n\n".join(n for n in notes if n)
    mean, std = by_class(cells), by_class(cells, stat="std")
    return Leaderboard(board, mean, std, cells, tests, note, tracker, roc_curves)


def publish(
    tracker: Tracker, results: Path | None, roc_curves: bool = True
) -> tuple[Leaderboard, list[Path]]:
    """Compute the leaderboard, write its files under ``results`` (None: nowhere but MLflow), attach
    them to the newest sweep run and put the table on the experiment's page in the UI, whose runs
    page opens on the leaderboard view; the leaderboard and every path written."""
    board = compute(tracker, roc_curves)
    with contextlib.ExitStack() as stack:
        folder = results or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-board-")))
        paths = board.write(folder)
        sweep = tracker.runs.find_run(KIND_SWEEP)
        if sweep is not None:
            table = board.board
            table = table.assign(
                **{c: table[c].astype(str) for c in table.columns if table[c].dtype == object}
            )
            tracker.attach(sweep, paths, {"leaderboard.json": table}, FOLDER)
    page = description(board.board, board.note, len(board.cells), tracker.experiment_id, sweep, paths)
    tracker.show_leaderboard(view_metrics(board.cells), page)
    return board, paths if results else []


def published_report(tracker: Tracker) -> str:
    """Every published figure beside bench's measurement, over all experiments of the store."""
    from bench.report.paper_figures import published_markdown, published_table

    names = tracker.runs.experiment_names()
    tables = [tracker.__class__(tracker.uri, name).runs.cell_table() for name in names]
    cells = (
        pd.concat([t for t in tables if len(t)], ignore_index=True)
        if any(len(t) for t in tables)
        else tables[0]
    )
    return published_markdown(published_table(leaderboard.latest_per_cell(cells)))


def _figures(cells: pd.DataFrame, tests: dict[str, stats.Friedman]) -> dict[str, Figure]:
    out = {}
    for (dataset, protocol), group in cells.groupby(["dataset", "protocol"]):
        table = stats.blocks(group).droplevel("dataset").T
        out[f"heatmap_{_slug(dataset)}_{_slug(protocol)}.png"] = plots.heatmap_figure(
            table, f"AUROC, {dataset} {protocol} (mean over seeds)"
        )
    for protocol, t in tests.items():
        figure = plots.cd_figure(t.ranks, t.nemenyi, t.critical_difference, protocol)
        out[f"cd_{_slug(protocol)}.png"] = figure
    return out


def _roc_overlays(tracker: Tracker, cells: pd.DataFrame) -> dict[str, Figure]:
    """Per (dataset, protocol, class): every method's ROC curve on its lowest seed."""
    out = {}
    cells = cells.assign(cls=cells["class"].astype(int), seed_n=cells["seed"].astype(int))
    with tempfile.TemporaryDirectory() as scratch:
        for (dataset, protocol, cls), group in cells.groupby(["dataset", "protocol", "cls"]):
            curves = {}
            for method, runs in group.groupby("method"):
                run_id = runs.sort_values("seed_n")["run_id"].iloc[0]
                try:
                    scores = tracker.runs.cell_scores(run_id, Path(scratch))
                except Exception:  # a run without scores.csv (older store): leave it out of the overlay
                    continue
                curves[method] = (scores["anomaly"].to_numpy(), scores["score"].to_numpy(np.float64))
            if curves:
                title = f"ROC, {dataset} {protocol} class {cls} (lowest seed)"
                name = f"roc_{_slug(dataset)}_{_slug(protocol)}_class{cls}.png"
                out[name] = plots.roc_overlay_figure(curves, title)
    return out


def _slug(label: str) -> str:
    """A dataset or protocol label (``npz:/data/x.npz``, ``open-set[known=1,3 labels=40]``) as a file
    name part that every file system takes; a label that had to change gets a short hash of itself,
    so two labels never share a file (``folder:/a/b`` and ``folder:/a_b``)."""
    slug = re.sub(r"[^A-Za-z0-9=.-]+", "_", label).strip("_.")[:80]
    return slug if slug == label else f"{slug}-{hashlib.sha256(label.encode()).hexdigest()[:6]}"


def _save(folder: Path, figures: dict[str, Figure]) -> list[Path]:
    paths = []
    for name, fig in figures.items():
        path = folder / name
        fig.savefig(path)
        paths.append(path)
    return paths
