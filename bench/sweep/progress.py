"""What a sweep shows while it runs and when it ends: live bars, a line per cell, a summary table."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench import schema
from bench.cell import Cell, CellResult
from bench.scoring.metrics import PRIMARY, SUMMARY, UNDEFINED, shown_in
from bench.sweep.order import Row, row_of
from bench.sweep.plan import NotApplicable, na_lines

EPOCH_LINE_EVERY_S = 30


@dataclass
class SweepReport:
    sweep_id: str
    ok: list[tuple[Cell, dict[str, float]]] = field(default_factory=list)
    failed: list[tuple[Cell, str]] = field(default_factory=list)
    skipped: int = 0
    na: tuple[NotApplicable, ...] = ()
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def add(self, cell: Cell, result: CellResult) -> None:
        if result.ok:
            self.ok.append((cell, result.metrics))
        else:
            self.failed.append((cell, result.error))


def live_in_notebook(console: Console) -> bool:
    """Whether live bars can show here: a Jupyter notebook with ipywidgets, which rich draws them with
    (``pip install bench[notebook]``); elsewhere without a terminal, a line now and then instead."""
    if not console.is_jupyter:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class SweepView:
    """The console side of a sweep; with no terminal (logs, CI) bars give way to a line now and then."""

    def __init__(self, console: Console | None, total: int) -> None:
        if console is None:
            console = Console()
            console.width = console.width if sys.stdout.isatty() or console.is_jupyter else 160
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=not (self.console.is_terminal or live_in_notebook(self.console)),
        )
        self.cells = self.progress.add_task("cells", total=total)
        self.epochs = self.progress.add_task("epochs", total=1, visible=False)
        self.last_line = time.monotonic()

    def __enter__(self) -> SweepView:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, soft_wrap=True)

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.cells, steps)

    def on_epoch(self, epoch: int, epochs: int, loss: float) -> None:
        self.progress.update(
            self.epochs, completed=epoch, total=epochs, visible=True, description=f"epoch (loss {loss:.4g})"
        )
        if self.progress.disable and time.monotonic() - self.last_line > EPOCH_LINE_EVERY_S:
            self.last_line = time.monotonic()
            self.say(f"          epoch {epoch}/{epochs}  loss {loss:.4g}")

    def cell_done(self, cell: Cell, result: CellResult) -> None:
        self.progress.update(self.epochs, visible=False)
        self.advance()
        if result.ok:
            metrics = result.metrics
            self.say(
                f"  ok      {cell.label}  AUROC {metrics['auroc']:.3f}  "
                f"({metrics[schema.FIT_SECONDS]:.1f}s fit)"
            )
        else:
            self.console.print(
                f"  FAILED  {cell.label}: {result.error}", style="red", soft_wrap=True, markup=False
            )

    def row_done(self, row: Row, report: SweepReport) -> None:
        """Every cell this sweep had for ``row`` is in: its mean, while the dearer rows still run."""
        ok = [metrics for cell, metrics in report.ok if row_of(cell) == row]
        failed = sum(row_of(cell) == row for cell, _ in report.failed)
        values = [m[PRIMARY.key] for m in ok if PRIMARY.key in m]
        mean = f"{PRIMARY.label} {np.mean(values):{PRIMARY.fmt}}, mean of {len(values)}" if values else "no"
        lost = f", {failed} failed" if failed else ""
        self.say(f"  row     {' | '.join(row)}  {mean} cells run now{lost}")

    def finish(self, report: SweepReport) -> None:
        self.console.print(summary_table(report))
        for line in na_lines(report.na):
            self.say(line)
        for cell, reason in report.failed:
            self.console.print(f"  FAILED {cell.label}: {reason}", style="red", markup=False)
        self.say(
            f"{len(report.ok)} cells ok, {len(report.failed)} failed, {report.skipped} already done "
            f"(skipped), {len(report.na)} n/a entries; {report.seconds:.1f}s"
        )


def summary_table(report: SweepReport) -> Table:
    """Per method x dataset x protocol, the mean of each declared summary metric over the cells run now."""
    ran = {key for _, metrics in report.ok for key in metrics}
    columns = [m for m in shown_in(SUMMARY) if m.key in ran or m.undefined]
    table = Table(title=f"sweep {report.sweep_id}: mean test metrics of the cells run now")
    for col in ("method", "dataset", "protocol", "cells", *(m.label for m in columns)):
        table.add_column(col, justify="left" if col in ("method", "dataset", "protocol") else "right")
    groups: dict[Row, list[dict[str, float]]] = {}
    for cell, metrics in report.ok:
        groups.setdefault(row_of(cell), []).append(metrics)
    notes: dict[str, None] = {}
    sign = 1 if PRIMARY.higher_is_better else -1
    for (m, d, p), rows in sorted(
        groups.items(), key=lambda kv: -sign * np.mean([r[PRIMARY.key] for r in kv[1]])
    ):
        shown = []
        for metric in columns:
            values = [r[metric.key] for r in rows if metric.key in r and np.isfinite(r[metric.key])]
            if not values:  # no cell has it: e.g. the method has no threshold of its own
                notes[metric.undefined] = None
                shown.append(UNDEFINED)
            else:
                shown.append(f"{np.mean(values):{metric.fmt}}")
        table.add_row(escape(m), d, p, str(len(rows)), *shown)
    if notes:
        table.caption = " ".join(n for n in notes if n)
    return table
