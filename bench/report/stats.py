"""Leaderboard statistics over cells: blocks, ranks, bootstrap intervals, Friedman and Nemenyi.

A *block* is one (dataset, class) pair, its AUROC averaged over seeds: seeds of
one class share their test set, so they are not independent samples. Ranks,
the bootstrap and the Friedman test all work on blocks. scipy computes the
bootstrap and the Friedman test; scikit-posthocs (maintained, used by the
ADBench-style literature) the Nemenyi post-hoc test and the critical-difference
diagram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


def blocks(cells: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Rows (dataset, class) x columns method: ``metric`` averaged over seeds."""
    cells = cells.assign(cls=cells["class"].astype(int))
    return cells.pivot_table(index=["dataset", "cls"], columns="method", values=metric, aggfunc="mean")


def complete_blocks(table: pd.DataFrame) -> pd.DataFrame:
    """A complete design for the Friedman test: the methods that cover the most blocks, on the
    blocks they all have (a method run on fewer classes is left out rather than shrinking the test)."""
    covered = table.notna().sum()
    table = table.loc[:, covered == covered.max()]
    return table.dropna(axis=0, how="any")


def mean_ranks(table: pd.DataFrame) -> pd.Series:
    """Mean rank per method over blocks; rank 1 is the highest value, ties share the mean rank."""
    return table.rank(axis=1, ascending=False, method="average").mean(axis=0).sort_values()


def bootstrap_ci(values: np.ndarray, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (10,000 resamples); NaN for fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return np.nan, np.nan
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0])
    res = stats.bootstrap(
        (v,),
        np.mean,
        n_resamples=10_000,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class Friedman:
    """The Friedman test over complete blocks, with Nemenyi p-values for every pair of methods."""

    statistic: float
    p_value: float
    n_blocks: int
    ranks: pd.Series
    nemenyi: pd.DataFrame
    critical_difference: float
    left_out: tuple[str, ...] = ()


def friedman(table: pd.DataFrame, alpha: float = 0.05) -> Friedman | None:
    """None when fewer than 3 methods or 2 complete blocks are left to compare."""
    import scikit_posthocs as sp

    complete = complete_blocks(table)
    left_out = tuple(c for c in table.columns if c not in complete.columns)
    table = complete
    k, n = table.shape[1], table.shape[0]
    if k < 3 or n < 2:
        return None
    statistic, p_value = stats.friedmanchisquare(*(table[c].to_numpy() for c in table.columns))
    # Nemenyi ranks ascending values; AUROC is better high, so compare negated values.
    nemenyi = sp.posthoc_nemenyi_friedman(-table.to_numpy())
    nemenyi.index = nemenyi.columns = table.columns
    q_alpha = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    cd = float(q_alpha * np.sqrt(k * (k + 1) / (6 * n)))
    return Friedman(float(statistic), float(p_value), n, mean_ranks(table), nemenyi, cd, left_out)
