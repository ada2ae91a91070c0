"""What bench's MLflow runs are tagged with, and how values become params: one vocabulary for the
tracker that writes runs and the leaderboard and UI that filter them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bench import schema
from bench.data.dataset import Sizes
from bench.schema import KIND_CELL, KIND_CONFLICT, KIND_SWEEP, KIND_TRIAL, KIND_TUNE

if TYPE_CHECKING:
    from bench.cell import Cell

MAX_PARAM = 6000
__all__ = [
    "KIND_CELL",
    "KIND_CONFLICT",
    "KIND_SWEEP",
    "KIND_TRIAL",
    "KIND_TUNE",
    "cell_tags",
    "is_hyperparameter",
    "param_value",
]


def cell_tags(cell: Cell, sweep_id: str, device: str, result: Any) -> dict[str, str]:
    """The tags that let the UI and the leaderboard filter and group cell runs."""
    tags = {
        schema.KIND: KIND_CELL,
        schema.STATUS: "OK" if result.ok else "FAILED",
        schema.SWEEP_ID: sweep_id,
        "method": cell.method,
        schema.METHOD_LABEL: cell.label_name,
        "dataset": cell.dataset,
        schema.DATA_DIGEST: cell.data,
        "protocol": cell.protocol,
        schema.PROTOCOL_LABEL: cell.protocol_label,
        schema.PROTOCOL_VERSION: str(cell.protocol_version),
        "class": str(cell.unit),
        schema.NORMAL_CLASS: cell.normal_class,
        "seed": str(cell.seed),
        schema.CELL_KEY: cell.key,
        "device": device,
        schema.THRESHOLD_SOURCE: result.threshold_source,
    }
    if result.tuned is not None:
        tags[schema.TUNED_THRESHOLD_SOURCE] = result.tuned.source
    if cell.tuned_from:
        tags[schema.TUNED_FROM] = cell.tuned_from
    if cell.fast_kernels:
        tags[schema.FAST_KERNELS] = "true"
    if cell.pretrained:
        tags[schema.PRETRAINED] = cell.pretrained
    if cell.plugin:
        tags[schema.PLUGIN] = cell.plugin  # the third-party package (and version) the method came from
    if not result.ok:
        tags[schema.ERROR] = result.error
    return tags


def param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text[:MAX_PARAM]


# What a cell run's params hold beside its hyperparameters (``Tracker._log_cell``): the split's
# sizes, where its images came from, the protocol's settings and a tuned threshold's parameters.
SPLIT_SIZES = frozenset(Sizes(0, 0, 0, 0, 0, 0).params())


def is_hyperparameter(param: str) -> bool:
    """Whether a cell run's param is one of its method's hyperparameters (as used)."""
    return param not in SPLIT_SIZES and not param.startswith(schema.NOT_HYPERPARAMETER_PREFIXES)
