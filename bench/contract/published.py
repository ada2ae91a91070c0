"""A figure a paper or seed report published, declared by a method next to its defaults.

``bench.report.paper_figures`` sets each one beside what bench measures in the same setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Published:
    """One published figure. ``value`` is on bench's scale (AUROC 0.948, not 94.8)."""

    dataset: str
    protocol: str
    metric: str
    value: float
    source: str
    unit: int | None = None  # the class (or test set) the figure is for; None: the mean over all
    setting: tuple[tuple[str, Any], ...] = ()  # hyperparameters the report ran with, where not bench's own
    stand_ins: tuple[str, ...] = ()  # bench datasets measured in its place (e.g. a smaller copy)
