"""A figure a paper or seed report published, declared by a method next to its defaults.

Each names where it can be checked: the paper (or seed report), the table,
page or section, the network and input it was measured with, and the
protocol (bench's protocol that reproduces its split). A figure that comes
from someone else's re-implementation, not from the method's own paper,
says whose (``reimplemented_by``). ``bench.report.paper_figures`` sets each
one beside what bench measures in the same setup.
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
    paper: str  # who and when: "Reiss et al. 2021 (PANDA, CVPR)", or the seed report: "seed 003"
    where: str  # the table, page or section that prints it: "Table 1", "abstract", "baseline 1 results"
    network: str  # what measured it: "ResNet-152 (ImageNet), 224 px", "the report's conv AE, 28x28"
    unit: int | None = None  # the class (or test set) the figure is for; None: the mean over all
    setting: tuple[tuple[str, Any], ...] = ()  # hyperparameters the report ran with, where not bench's own
    stand_ins: tuple[str, ...] = ()  # bench datasets measured in its place (e.g. a smaller copy)
    reimplemented_by: str = ""  # whose re-implementation measured it, where not the paper's authors

    def __post_init__(self) -> None:
        missing = [name for name in ("paper", "where", "network", "protocol") if not getattr(self, name)]
        if missing:
            raise ValueError(f"a published figure names its {', '.join(missing)}: {self}")

    @property
    def source(self) -> str:
        """The figure's source in one line, as tables print it."""
        words = f"{self.paper}, {self.where} ({self.network})"
        return words + (f"; re-implemented by {self.reimplemented_by}" if self.reimplemented_by else "")
