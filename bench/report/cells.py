"""A store's cells as one DataFrame, a row per cell: what ``bench.cells`` and a run's ``.cells`` hold.

A row is the newest run of its cell (as the leaderboard counts it), named as the
leaderboard names it (``method`` is the variant label, ``protocol`` the versioned
label), with its status, every metric it logged, its hyperparameters as used, and
its provenance (device, data digest, the ``env.*`` versions, run and sweep ids).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from bench import schema
from bench.report.by_class import latest_per_cell
from bench.tracking.tables import RunRecord
from bench.tracking.tags import is_hyperparameter

FRONT = ["method", "dataset", "protocol", "class", "seed", "status"]
BACK = [
    "hyperparameters",
    "error",
    "device",
    schema.DATA_DIGEST,
    "run_id",
    schema.CELL_KEY,
    schema.SWEEP_ID,
    "started",
]
# Tags that only restate a column above, or bench's own bookkeeping.
DROPPED = (
    schema.KIND,
    schema.STATUS,
    schema.OWNER,
    schema.METHOD_LABEL,
    schema.PROTOCOL_LABEL,
    schema.MLFLOW_PREFIX,
)


def cell_frame(records: Iterable[RunRecord], na: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    """One row per cell (its newest run), plus the ``na`` rows given (cells no method could run)."""
    rows = [
        {
            "run_id": r.run_id,
            "start_time": r.start_time,
            "status": r.status,
            "hyperparameters": {k: _value(v) for k, v in r.params.items() if is_hyperparameter(k)},
            **r.tags,
            **r.metrics,
        }
        for r in records
    ]
    cells = latest_per_cell(pd.DataFrame(rows)) if rows else pd.DataFrame(columns=[*FRONT, *BACK])
    cells = cells.rename(columns={schema.ERROR: "error"})
    if len(cells):
        cells = cells.assign(
            seed=cells["seed"].astype(int),
            started=pd.to_datetime(cells["start_time"], unit="ms", utc=True),
        )
        cells["class"] = cells["class"].astype(int)
    cells = pd.concat([cells, pd.DataFrame(list(na))], ignore_index=True) if na else cells
    gone = ("start_time", "protocol_name")
    keep = [c for c in cells.columns if not c.startswith(DROPPED) and c not in gone]
    middle = [c for c in keep if c not in FRONT and c not in BACK]
    ordered = [*FRONT, *sorted(middle, key=_metrics_first(cells)), *BACK]
    out = cells.reindex(columns=ordered)
    return out.sort_values(["dataset", "protocol", "method", "class", "seed"], kind="stable").reset_index(
        drop=True
    )


def _metrics_first(cells: pd.DataFrame) -> Any:
    """Metrics (numbers) before provenance tags (text), each group in name order."""
    return lambda column: (cells[column].dtype == object, column)


def _value(text: str) -> Any:
    """A logged param back as the value it was (JSON where it parses: numbers, lists, null)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
