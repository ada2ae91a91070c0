"""Leaderboards from the finished cell runs in MLflow: one row per method x dataset x protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("auroc", "auprc", "f1")
KEYS = ["dataset", "protocol", "method"]


def latest_per_cell(cells: pd.DataFrame) -> pd.DataFrame:
    """One run per cell_key (the newest), so a rerun never counts a cell twice.

    Methods run with ``--set`` overrides are named by their ``method_label``.
    """
    if cells.empty:
        return cells
    cells = cells.sort_values("start_time", ascending=False).drop_duplicates("cell_key")
    if "method_label" in cells:
        cells = cells.assign(method=cells["method_label"].fillna(cells["method"]))
    return cells


def leaderboard(cells: pd.DataFrame, na: list[tuple[str, str, str]] = ()) -> pd.DataFrame:
    """Mean and std of each metric over classes and seeds, ranked by mean AUROC within dataset x protocol."""
    cells = latest_per_cell(cells)
    if cells.empty:
        return pd.DataFrame(columns=["rank", *KEYS, "cells"])
    for metric in METRICS:
        if metric not in cells:
            cells[metric] = np.nan
    agg = {"cells": ("cell_key", "size")}
    for metric in METRICS:
        agg[f"{metric}_mean"] = (metric, "mean")
        agg[f"{metric}_std"] = (
            metric,
            lambda s: float(np.std(s, ddof=1)) if s.notna().sum() > 1 else np.nan,
        )
    board = cells.groupby(KEYS).agg(**agg).reset_index()
    board["rank"] = board.groupby(["dataset", "protocol"])["auroc_mean"].rank(ascending=False, method="min")
    board["note"] = ""
    seen = set(zip(board["dataset"], board["protocol"], strict=True))
    extra = [
        {"dataset": d, "protocol": p, "method": m, "cells": 0, "note": reason}
        for m, p, reason in na
        for d in sorted({d for d, pp in seen if pp == p})
    ]
    board = pd.concat([board, pd.DataFrame(extra)], ignore_index=True) if extra else board
    board = board.sort_values(["dataset", "protocol", "rank"], na_position="last").reset_index(drop=True)
    return board[
        [
            "rank",
            *KEYS,
            "cells",
            *[c for c in board.columns if c.endswith(("_mean", "_std"))],
            "note",
        ]
    ]


def by_class(cells: pd.DataFrame, metric: str = "auroc", stat: str = "mean") -> pd.DataFrame:
    """``metric`` per (dataset, protocol, method) x class: its mean over seeds, or (``stat="std"``)
    the std over seeds; column ``mean`` is the mean over classes, or the std over seeds of it."""
    cells = latest_per_cell(cells)
    if cells.empty:
        return pd.DataFrame()
    cells = cells.assign(cls=cells["class"].astype(int), seed=cells["seed"].astype(int))
    per_seed = cells.pivot_table(index=[*KEYS, "seed"], columns="cls", values=metric, aggfunc="mean")
    overall = per_seed.mean(axis=1).groupby(level=KEYS)
    if stat == "std":
        table = per_seed.groupby(level=KEYS).std(ddof=1)
        table["mean"] = overall.std(ddof=1)
    else:
        table = per_seed.groupby(level=KEYS).mean()
        table["mean"] = overall.mean()
    table.columns = [str(c) for c in table.columns]
    best_first = overall.mean().sort_values(ascending=False).index  # same row order for mean and std
    return table.reindex(best_first).reset_index().sort_values(["dataset", "protocol"], kind="stable")


def by_class_markdown(mean: pd.DataFrame, std: pd.DataFrame) -> str:
    """The per-class table with ``mean ± std`` over seeds where there are several seeds."""
    if mean.empty:
        return ""
    merged = mean.copy()
    for col in mean.columns[len(KEYS) :]:
        merged[col] = [
            f"{m:.3f}" + ("" if pd.isna(sd) else f" ± {sd:.3f}")
            for m, sd in zip(mean[col], std[col] if col in std else [np.nan] * len(mean), strict=True)
        ]
    return table_markdown(merged)


def table_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """Any flat table as GitHub markdown, floats rounded."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(board: pd.DataFrame) -> str:
    """A GitHub table: metric columns as 'mean ± std'."""
    header = [
        "rank",
        "dataset",
        "protocol",
        "method",
        "cells",
        *(m.upper() for m in METRICS),
        "note",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board.itertuples(index=False):
        r = row._asdict()
        cells = [
            "" if pd.isna(r["rank"]) else str(int(r["rank"])),
            r["dataset"],
            r["protocol"],
            r["method"],
            str(int(r["cells"])),
        ]
        for metric in METRICS:
            mean, std = r.get(f"{metric}_mean"), r.get(f"{metric}_std")
            cells.append("" if pd.isna(mean) else f"{mean:.3f}" + ("" if pd.isna(std) else f" ± {std:.3f}"))
        cells.append(r.get("note") or "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(board: pd.DataFrame, cells: pd.DataFrame, results: Path) -> list[Path]:
    """leaderboard.{md,csv} and the per-class AUROC tables leaderboard_by_class{,_std}.{md,csv}."""
    results.mkdir(parents=True, exist_ok=True)
    mean, std = by_class(cells), by_class(cells, stat="std")
    paths = [
        results / f"leaderboard{s}"
        for s in (".md", ".csv", "_by_class.md", "_by_class.csv", "_by_class_std.csv")
    ]
    paths[0].write_text(to_markdown(board))
    board.to_csv(paths[1], index=False)
    paths[2].write_text(by_class_markdown(mean, std))
    mean.to_csv(paths[3], index=False)
    std.to_csv(paths[4], index=False)
    return paths
