"""The leaderboard as the MLflow UI shows it on an experiment's page: the table with its footnotes
(provenance, protocol versions), links to the per-class table and the critical-difference diagrams
attached to the sweep run, and the metrics the runs page's leaderboard view shows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bench import schema
from bench.report.leaderboard import to_markdown
from bench.scoring.metrics import LEADERBOARD, PRIMARY, shown_in
from bench.tracking.experiment import artifact_url, runs_link

FOLDER = "leaderboard"  # where ``publish`` attaches the files on the sweep run
PAGE = 100  # the runs the UI's runs page loads at a time (more on "Load more")


def view_metrics(cells: pd.DataFrame) -> list[str]:
    """The leaderboard's metrics that some cell has (the first ranks), then the fit time."""
    shown = [m.key for m in shown_in(LEADERBOARD) if m.key in cells and cells[m.key].notna().any()]
    return [*(shown or [PRIMARY.key]), schema.FIT_SECONDS]


def description(
    board: pd.DataFrame, note: str, cells: int, experiment_id: str, run_id: str | None, files: Sequence[Path]
) -> str:
    """The experiment page's markdown: the board, its note and links to the files attached to the
    sweep run ``run_id`` (none where the experiment has no sweep run to attach them to)."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = runs_link(experiment_id)
    paged = f" (the runs page loads {PAGE} runs at a time: its group means cover those loaded)"
    paged = paged if cells > PAGE else ""
    parts = [
        f"**bench leaderboard**: {cells} cells, as of {when} · [the cell runs by row]({runs}){paged}",
        to_markdown(board),
        note,
    ]
    if run_id is not None:
        names = {path.name for path in files}

        def link(name: str, text: str) -> str:
            return f"[{text}]({artifact_url(experiment_id, run_id, f'{FOLDER}/{name}')})"

        diagrams = sorted(n for n in names if n.startswith("cd_"))
        links = [link("leaderboard_by_class.md", "AUROC by class")] * ("leaderboard_by_class.md" in names)
        links += [link(n, f"critical differences, {n[3:-4]}") for n in diagrams]
        links += [link("leaderboard.md", "the tables with the Friedman tests")] * ("leaderboard.md" in names)
        parts.append(" · ".join(links))
    else:
        parts.append(
            "The per-class table and the diagrams are in the files `python -m bench leaderboard` writes "
            "(this experiment has no sweep run to attach them to: its cells were imported)."
        )
    return "\n\n".join(p for p in parts if p) + "\n"
