"""Leaderboards from the finished cell runs in MLflow: one row per method x dataset x protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("auroc", "auprc", "f1")
KEYS = ["dataset", "protocol", "method"]


def latest_per_cell(cells: pd.DataFrame) -> pd.DataFrame:
    """One run per cell_key (the newest), so a rerun never counts a cell twice."""
    if cells.empty:
        return cells
    return cells.sort_values("start_time", ascending=False).drop_duplicates("cell_key")


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


def write(board: pd.DataFrame, results: Path) -> tuple[Path, Path]:
    results.mkdir(parents=True, exist_ok=True)
    md, csv = results / "leaderboard.md", results / "leaderboard.csv"
    md.write_text(to_markdown(board))
    board.to_csv(csv, index=False)
    return md, csv
