"""What bench's MLflow runs are tagged with, and how values become params: one vocabulary for the
tracker that writes runs and the leaderboard and UI that filter them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bench.data.dataset import Sizes

if TYPE_CHECKING:
    from bench.cell import Cell

KIND_CELL, KIND_SWEEP, KIND_TUNE, KIND_TRIAL = "cell", "sweep", "tune", "trial"
KIND_CONFLICT = "conflict"  # an imported cell whose key this store holds with another result
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
        "bench.kind": KIND_CELL,
        "bench.status": "OK" if result.ok else "FAILED",
        "sweep_id": sweep_id,
        "method": cell.method,
        "method_label": cell.label_name,
        "dataset": cell.dataset,
        "data_digest": cell.data,
        "protocol": cell.protocol,
        "protocol_label": cell.protocol_label,
        "protocol_version": str(cell.protocol_version),
        "class": str(cell.unit),
        "normal_class": cell.normal_class,
        "seed": str(cell.seed),
        "cell_key": cell.key,
        "device": device,
        "threshold_source": result.threshold_source,
    }
    if result.tuned is not None:
        tags["tuned_threshold_source"] = result.tuned.source
    if cell.tuned_from:
        tags["bench.tuned_from"] = cell.tuned_from
    if cell.pretrained:
        tags["pretrained"] = cell.pretrained
    if cell.plugin:
        tags["plugin"] = cell.plugin  # the third-party package (and version) the method came from
    if not result.ok:
        tags["bench.error"] = result.error
    return tags


def param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value)
    return text[:MAX_PARAM]


# What a cell run's params hold beside its hyperparameters (``Tracker._log_cell``): the split's
# sizes, where its images came from, the protocol's settings and a tuned threshold's parameters.
SPLIT_SIZES = frozenset(Sizes(0, 0, 0, 0, 0, 0).params())
NOT_HYPERPARAMETER_PREFIXES = ("data.", "protocol.", "tuned.", "features")


def is_hyperparameter(param: str) -> bool:
    """Whether a cell run's param is one of its method's hyperparameters (as used)."""
    return param not in SPLIT_SIZES and not param.startswith(NOT_HYPERPARAMETER_PREFIXES)
