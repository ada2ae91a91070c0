"""Leaderboards from the finished cell runs in MLflow: one row per method x dataset x protocol.

Each row: mean over classes (of each class's mean over seeds) and std over
cells, the mean rank over (dataset, class) blocks, a 95% bootstrap interval of
mean AUROC over blocks, F1 at the method's own rule, at the validation-tuned
threshold (``--threshold tuned``), and the oracle F1 (best threshold on test:
a bound, never a result). Per protocol, a Friedman test and Nemenyi critical
difference across blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench import schema
from bench.contract.method import CHAOTIC
from bench.registry import METHODS
from bench.report import stats
from bench.report.by_class import by_class, by_class_markdown, class_means, latest_per_cell, uneven_note
from bench.report.columns import BLOCK_COLUMNS, COLUMNS
from bench.report.missing_rows import KEYS, failed_rows, na_rows
from bench.report.paper_figures import published_markdown, published_table
from bench.scoring.metrics import LEADERBOARD, OPEN_SET, PRIMARY, UNDEFINED, Metric, shown_in


def leaderboard(
    cells: pd.DataFrame, na: list[tuple[str, ...]] = (), failed: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each metric's mean over classes (of its mean over seeds) and std over cells, ranked by mean
    AUROC within dataset x protocol; methods that could not run (n/a) or whose every cell failed stay
    as rows that say so."""
    cells = latest_per_cell(cells)
    if cells.empty:
        return pd.DataFrame(failed_rows(failed, cells), columns=["rank", *KEYS, "cells", "note"])
    always = [m.key for m in shown_in(LEADERBOARD)]
    metrics = [*always, *(m.key for m in shown_in(OPEN_SET) if m.key in cells)]
    for metric in always:
        if metric not in cells:
            cells[metric] = np.nan
    declared = [c for c in COLUMNS if c.reads in cells]
    agg = {c.name: (c.reads, c.reduce) for c in declared}
    for metric in metrics:
        agg[f"{metric}_std"] = (
            metric,
            lambda s: float(np.std(s, ddof=1)) if s.notna().sum() > 1 else np.nan,
        )
    board = cells.groupby(KEYS).agg(**agg).join(class_means(cells, metrics).add_suffix("_mean")).reset_index()
    board["rank"] = board.groupby(["dataset", "protocol"])[f"{PRIMARY.key}_mean"].rank(
        ascending=not PRIMARY.higher_is_better, method="min"
    )
    board = board.merge(block_statistics(cells), on=KEYS, how="left")
    board["note"] = board["method"].map(chaotic_note)
    extra = na_rows(board, na)
    extra += failed_rows(failed, cells)
    board = pd.concat([board, pd.DataFrame(extra)], ignore_index=True) if extra else board
    board = board.sort_values(["dataset", "protocol", "rank"], na_position="last").reset_index(drop=True)
    return board[
        [
            "rank",
            *KEYS,
            *(c.name for c in declared if c.before_metrics),
            *[f"{metric}_{stat}" for metric in metrics for stat in ("mean", "std")],
            *BLOCK_COLUMNS,
            *(c.name for c in declared if not c.before_metrics),
            "note",
        ]
    ]


def chaotic_note(label: str) -> str:
    """A row of a method whose results a rounding can change (it declares itself chaotic): which
    figure to read."""
    name = label.split("[", 1)[0]
    declared = METHODS.get(name)[1].reproducibility if name in METHODS.names() else ""
    if not declared.startswith(CHAOTIC):
        return ""
    why = declared.removeprefix(CHAOTIC).strip(": ")
    return f"chaotic ({why}): read the spread over seeds (leaderboard_by_class_std), not one seed"


def block_statistics(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method x dataset x protocol: mean rank over its (dataset, class) blocks and the AUROC CI."""
    rows = []
    for (dataset, protocol), group in cells.groupby(["dataset", "protocol"]):
        table = stats.blocks(group)
        ranks = table.rank(axis=1, ascending=False, method="average")
        for method in table.columns:
            low, high = stats.bootstrap_ci(table[method].to_numpy())
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": protocol,
                    "method": method,
                    "mean_rank": float(ranks[method].mean()),
                    "auroc_ci_low": low,
                    "auroc_ci_high": high,
                }
            )
    return pd.DataFrame(rows, columns=[*KEYS, *BLOCK_COLUMNS])


def friedman_by_protocol(cells: pd.DataFrame) -> dict[str, stats.Friedman]:
    """The Friedman test with Nemenyi post-hoc per protocol, blocks = (dataset, class)."""
    cells = latest_per_cell(cells)
    out = {}
    for protocol, group in cells.groupby("protocol"):
        result = stats.friedman(stats.blocks(group))
        if result is not None:
            out[protocol] = result
    return out


def friedman_markdown(tests: dict[str, stats.Friedman]) -> str:
    lines = []
    for protocol, t in tests.items():
        lines.append(
            f"Friedman test, {protocol}: {len(t.ranks)} methods over {t.n_blocks} complete (dataset, class) "
            f"blocks, chi2 = {t.statistic:.2f}, p = {t.p_value:.2g}; Nemenyi critical difference "
            f"(alpha 0.05) = {t.critical_difference:.2f} mean ranks."
            + (f" Left out (fewer blocks): {', '.join(t.left_out)}." if t.left_out else "")
            + "\n\n"
        )
        lines.append("| method | mean rank |\n|---|---|\n")
        lines += [f"| {m} | {r:.2f} |\n" for m, r in t.ranks.items()]
        lines.append("\n")
    return "".join(lines)


def to_markdown(board: pd.DataFrame) -> str:
    """A GitHub table: the declared leaderboard metrics as 'mean ± std', then the AUROC interval."""
    metrics = shown_in(LEADERBOARD)
    header = ["rank", "dataset", "protocol", "method", "cells", *(m.label for m in metrics)]
    header += ["AUROC 95% CI", "mean rank", "pretrained on", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes: dict[str, None] = {}
    for r in board.to_dict("records"):
        cells = ["" if pd.isna(r["rank"]) else str(int(r["rank"])), r["dataset"], r["protocol"], r["method"]]
        cells.append(str(int(r["cells"])))
        cells += [_shown(r, m, notes) for m in metrics]
        low, high = r.get("auroc_ci_low"), r.get("auroc_ci_high")
        cells.append("" if low is None or pd.isna(low) else f"[{low:.3f}, {high:.3f}]")
        rank = r.get("mean_rank")
        cells.append("" if rank is None or pd.isna(rank) else f"{rank:.2f}")
        pretrained = r.get(schema.PRETRAINED)
        cells.append(pretrained if isinstance(pretrained, str) else "")  # outside data, never the benchmark's
        cells.append(r.get("note") or "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes)


def _shown(r: dict, metric: Metric, notes: dict[str, None]) -> str:
    """'mean ± std'; where cells ran but none has a value a metric declares undefined, "—" (its
    note is collected in ``notes``) rather than blank or nan."""
    shown = _mean_std(r.get(f"{metric.key}_mean"), r.get(f"{metric.key}_std"), metric.fmt)
    if not shown and metric.undefined and r.get("cells", 0) > 0:
        notes[metric.undefined] = None
        return UNDEFINED
    return shown


def open_set_markdown(board: pd.DataFrame) -> str:
    """The classification side of open-set rows (the declared open-set metrics): known-class
    accuracy and macro-F1, and the known + "unknown" accuracy, mean ± std over test sets and seeds."""
    if "class_accuracy_mean" not in board or board["class_accuracy_mean"].isna().all():
        return ""
    by_key = {m.key: m for m in shown_in(LEADERBOARD)}
    first = [by_key["auroc"], by_key["f1"]]
    present = [m for m in shown_in(OPEN_SET) if f"{m.key}_mean" in board]
    header = ["dataset", "protocol", "method", "cells", "unknown AUROC", "unknown F1"]
    lines = ["| " + " | ".join(header + [m.label for m in present]) + " |", "|" + "---|" * (6 + len(present))]
    notes: dict[str, None] = {}
    for r in board.dropna(subset=["class_accuracy_mean"]).to_dict("records"):
        cells = [r["dataset"], r["protocol"], r["method"], str(int(r["cells"]))]
        cells += [_shown(r, m, notes) for m in first + present]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + "".join(f"\n{note}\n" for note in notes)


def _mean_std(mean: float | None, std: float | None, fmt: str = ".3f") -> str:
    if mean is None or pd.isna(mean):
        return ""
    return f"{mean:{fmt}}" + ("" if std is None or pd.isna(std) else f" ± {std:{fmt}}")


def write(
    board: pd.DataFrame,
    cells: pd.DataFrame,
    results: Path,
    tests: dict[str, stats.Friedman] | None = None,
    note: str = "",
    classes: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> list[Path]:
    """leaderboard.{md,csv} (with the Friedman tests and ``note``, said once under the table) and the
    per-class AUROC tables leaderboard_by_class{,_std}.{md,csv} (``classes``: their mean and std
    tables, where the caller has them)."""
    results.mkdir(parents=True, exist_ok=True)
    mean, std = classes or (by_class(cells), by_class(cells, stat="std"))
    uneven = uneven_note(cells)
    note = "\n\n".join(n for n in (note, uneven) if n)
    board_md, board_csv = results / "leaderboard.md", results / "leaderboard.csv"
    class_md, class_csv, class_std_csv = (
        results / f"leaderboard_by_class{s}" for s in (".md", ".csv", "_std.csv")
    )
    open_set = open_set_markdown(board)
    figures = published_table(cells)
    figures = figures[figures["cells"] > 0]
    board_md.write_text(
        to_markdown(board)
        + (f"\n{note}\n" if note else "")
        + ("\nOpen-set classification:\n\n" + open_set if open_set else "")
        + ("\nPublished figures beside bench's:\n\n" + published_markdown(figures) if len(figures) else "")
        + ("\n" + friedman_markdown(tests) if tests else "")
    )
    board.to_csv(board_csv, index=False)
    class_md.write_text(by_class_markdown(mean, std, uneven))
    mean.to_csv(class_csv, index=False)
    std.to_csv(class_std_csv, index=False)
    return [board_md, board_csv, class_md, class_csv, class_std_csv]
