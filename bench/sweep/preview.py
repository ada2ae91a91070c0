"""A plan shown before any work: each cell's split sizes (``run --dry-run``, ``list --protocol``)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.data.dataset import Dataset
from bench.data.protocol import ProtocolOptions, protocol_info, protocol_label, protocol_units
from bench.sweep.plan import SweepPlan, na_lines, spans
from bench.sweep.sizes import SplitCheck, check_split, scaled_note


def sizes_table(checks: list[SplitCheck], title: str, opts: ProtocolOptions) -> Table:
    """One row per (dataset, protocol, class or test set) and sizes; the seeds that share them."""
    table = Table(title=title)
    for col in ("dataset", "protocol", "cell", "seeds", "train", "val", "test", "labeled", "runs"):
        table.add_column(col, justify="right" if col in ("train", "val", "test", "labeled") else "left")
    rows: dict[tuple, set[int]] = {}
    for c in checks:
        rows.setdefault((c.dataset, c.protocol, c.unit, c.sizes, c.reason), set()).add(c.seed)
    for (dataset, protocol, unit, sizes, reason), seeds in rows.items():
        cell = f"{'test set' if protocol_info(protocol).test_sets else 'class'} {unit}"
        if sizes is None:
            counts = ["-", "-", "-", "-"]
        else:
            counts = [
                f"{sizes.train_normal:,}+{sizes.train_anomalous:,}",
                f"{sizes.val_normal:,}+{sizes.val_anomalous:,}",
                f"{sizes.test_normal:,}+{sizes.test_anomalous:,}",
                "-" if sizes.labeled is None else f"{sizes.labeled:,}",
            ]
        table.add_row(
            escape(dataset),
            protocol_label(protocol, opts),
            cell,
            spans(seeds),
            *counts,
            "n/a" if reason else "yes",
        )
    return table


def show_plan(plan: SweepPlan, console: Console | None = None) -> None:
    """What ``run`` would do, and nothing else: notes, sizes, methods, cells and n/a entries."""
    if console is None:
        console = Console()
        console.width = max(console.width, 110)  # a piped dry run keeps whole rows
    for note in plan.notes:
        console.print(note, markup=False, soft_wrap=True)
    opts = plan.config.protocol_options()
    console.print(sizes_table(list(plan.splits), "split sizes per cell: normal+anomalous images", opts))
    methods = ", ".join(spec.label for spec in plan.methods)
    console.print(f"methods: {methods}", markup=False, soft_wrap=True)
    for line in na_lines(plan.na):
        console.print(line, markup=False, soft_wrap=True)
    console.print(
        f"{len(plan.cells)} cells on {plan.device} (finished ones are skipped when the sweep runs); "
        "dry run: nothing ran, nothing was written"
    )


def protocol_sizes(protocol: str, datasets: dict[str, Dataset], console: Console) -> None:
    """``bench list --protocol NAME``: the sizes of every cell (seed 0) on each dataset at hand."""
    opts, checks, notes = ProtocolOptions(), [], []
    info = protocol_info(protocol)
    for name, dataset in datasets.items():
        here = [check_split(dataset, protocol, k, 0, opts) for k in protocol_units(info, dataset.n_classes)]
        checks += here
        sized = next((c.sizes for c in here if c.sizes is not None), None)
        notes += [n for n in [sized and scaled_note(name, protocol, sized, opts)] if n]
    console.print(sizes_table(checks, f"{protocol}: split sizes per cell, seed 0 (normal+anomalous)", opts))
    for line in notes + [f"  {c.dataset} {c.unit}: n/a: {c.reason}" for c in checks if c.reason]:
        console.print(line, markup=False, soft_wrap=True)
