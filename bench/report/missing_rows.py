"""Leaderboard rows for methods without numbers: n/a on a protocol or dataset, or every cell failed.

A method that could not run stays in the table as a row that says why, so a
reader never mistakes a missing method for one that was never tried.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench import schema

KEYS = ["dataset", "protocol", "method"]


def failed_rows(failed: pd.DataFrame | None, finished: pd.DataFrame) -> list[dict]:
    """A row for each method x dataset x protocol whose every cell failed: how many, and the first reason."""
    if failed is None or failed.empty:
        return []
    done = set(finished[schema.CELL_KEY]) if not finished.empty else set()
    failed = failed[~failed[schema.CELL_KEY].isin(done)]
    ran = set(map(tuple, finished[KEYS].to_numpy())) if not finished.empty else set()
    rows = []
    for key, group in failed.sort_values("start_time").groupby(KEYS):
        if key not in ran:
            reason = group[schema.ERROR].iloc[0] if schema.ERROR in group else "unknown"
            rows.append(
                {
                    **dict(zip(KEYS, key, strict=True)),
                    "cells": 0,
                    "note": f"FAILED: {len(group)} cell{'s' * (len(group) != 1)}; first: {reason}",
                }
            )
    return rows


def na_rows(board: pd.DataFrame, na: list[tuple[str, ...]]) -> list[dict[str, Any]]:
    """Rows for n/a entries, ``(method, protocol, reason[, dataset])``: a method that cannot run on a
    protocol gets a row on every dataset the protocol ran on; one whose splits on a dataset were too
    small gets a row there, or the reason in the note of its row where some of its cells ran."""
    seen = set(zip(board["dataset"], board["protocol"], strict=True))
    rows = {(r["dataset"], r["protocol"], r["method"]): i for i, r in board.iterrows()}
    extra = []
    for method, protocol, reason, *dataset in na:
        if not dataset:
            where = [(d, label) for d, label in sorted(seen) if label.partition("[")[0] == protocol]
        elif (dataset[0], protocol, method) in rows:
            board.loc[rows[dataset[0], protocol, method], "note"] = reason
            continue
        else:
            where = [(dataset[0], protocol)]
        extra += [
            {"dataset": d, "protocol": label, "method": method, "cells": 0, "note": reason}
            for d, label in where
        ]
    return list({(r["dataset"], r["protocol"], r["method"]): r for r in extra}.values())
