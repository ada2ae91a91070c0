"""The leaderboard's footnote on where its numbers came from: which bench (version and commit),
which version of each protocol's splits, which devices, with how many cells each."""

from __future__ import annotations

import pandas as pd

from bench import schema

UNRECORDED = "not recorded (run before bench recorded it)"


def provenance_note(cells: pd.DataFrame) -> str:
    """One paragraph over the cells a leaderboard shows ('' when there are none)."""
    if cells.empty:
        return ""
    parts = {
        "bench": _counted(cells.apply(_bench, axis=1)),
        "protocol versions": _counted(
            cells["protocol_name"] + " v" + _column(cells, schema.PROTOCOL_VERSION).fillna("1").astype(str)
        ),
        "devices": _counted(cells.apply(_device, axis=1)),
    }
    return "Cells by provenance: " + "; ".join(f"{name}: {text}" for name, text in parts.items()) + "."


def _bench(cell: pd.Series) -> str:
    version = cell.get(schema.ENV_BENCH)
    if not isinstance(version, str):
        return UNRECORDED
    commit = cell.get(schema.ENV_BENCH_COMMIT)
    if not isinstance(commit, str):
        return version
    dirty = " with local changes" if cell.get(schema.ENV_BENCH_DIRTY) == "true" else ""
    return f"{version} at {commit[:10]}{dirty}"


def _device(cell: pd.Series) -> str:
    gpu, cpu = cell.get(schema.ENV_GPU), cell.get(schema.ENV_CPU)
    if isinstance(gpu, str):
        return f"{gpu} ({cell.get(schema.ENV_GPU_MEMORY)} GiB)"
    if isinstance(cpu, str):
        return f"{cpu} (CPU)"
    return f"{cell.get('device', '?')}, model {UNRECORDED}"


def _column(cells: pd.DataFrame, name: str) -> pd.Series:
    return cells[name] if name in cells else pd.Series(None, index=cells.index, dtype=object)


def _counted(values: pd.Series) -> str:
    counts = values.value_counts(sort=False).sort_index(kind="stable")
    counts = counts.sort_values(ascending=False, kind="stable")
    return ", ".join(f"{value} ({n} cells)" for value, n in counts.items())
