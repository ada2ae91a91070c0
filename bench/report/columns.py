"""The leaderboard's columns beside each metric's mean and std, declared once, in the order they show.

Every metric ``bench.scoring.metrics`` declares for the leaderboard gets ``METRIC_mean`` (the
mean over classes of each class's mean over seeds) and ``METRIC_std`` (over cells); the block
statistics (mean rank over (dataset, class) blocks, the AUROC's bootstrap interval) follow them.
Any other column is one ``Column`` here: its name, the cell-table column it reads and how the
cells of a row (one method x dataset x protocol) reduce to it, a pandas aggregation by name
(``"size"``, ``"median"``, ``"first"``: the first value given) or a function of the values. A
column whose source no cell has is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from bench import schema


@dataclass(frozen=True)
class Column:
    name: str
    reads: str
    reduce: str | Callable[[pd.Series], object]
    before_metrics: bool = False  # shown right after the row's names, before the metrics


COLUMNS: tuple[Column, ...] = (
    Column("cells", schema.CELL_KEY, "size", before_metrics=True),
    Column("tuned_from", "tuned_from", "first"),  # the study a tuned variant's parameters came from
    Column(schema.PRETRAINED, schema.PRETRAINED, "first"),  # the outside data a method's weights saw
)
BLOCK_COLUMNS = ("mean_rank", "auroc_ci_low", "auroc_ci_high")  # ``block_statistics``, per row
