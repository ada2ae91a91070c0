"""Leaderboard statistics against known answers: ranks, bootstrap, Friedman, Nemenyi CD."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from bench.report import stats


def table(values):
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def test_mean_ranks_rank_higher_auroc_first_and_share_ties():
    t = table([[0.9, 0.8, 0.7, 0.6], [0.9, 0.9, 0.5, 0.4]])
    ranks = stats.mean_ranks(t)
    assert ranks["a"] == 1.25 and ranks["b"] == 1.75 and ranks["c"] == 3 and ranks["d"] == 4


def test_critical_difference_matches_demsar_table():
    rng = np.random.default_rng(0)
    result = stats.friedman(table(rng.random((10, 4))))
    # Demšar (2006), Table 5: q_0.05 = 2.569 for k = 4; CD = q sqrt(k(k+1) / 6N).
    assert np.isclose(result.critical_difference, 2.569 * np.sqrt(4 * 5 / 60), atol=1e-3)


def test_friedman_agrees_with_scipy_and_finds_a_real_difference():
    rng = np.random.default_rng(1)
    t = table(rng.random((12, 4)) * 0.05 + np.array([0.9, 0.85, 0.8, 0.6]))
    result = stats.friedman(t)
    assert np.isclose(result.statistic, sps.friedmanchisquare(*t.T.to_numpy()).statistic)
    assert result.p_value < 1e-4 and result.n_blocks == 12
    assert result.nemenyi.loc["a", "d"] < 0.05  # best vs worst differ
    assert list(result.ranks.index) == ["a", "b", "c", "d"]


def test_friedman_uses_complete_blocks_only_and_needs_three_methods():
    t = table(np.random.default_rng(2).random((6, 4)))
    t.iloc[0, 1] = np.nan
    result = stats.friedman(t)
    assert result.n_blocks == 6 and result.left_out == ("b",)  # b misses a block: b is left out
    t.iloc[1, 2] = t.iloc[1, 3] = t.iloc[0, 0] = np.nan
    assert stats.friedman(t[["a", "c", "d"]]).n_blocks == 4  # all cover 5 blocks: incomplete rows go
    assert stats.friedman(t[["a", "b"]]) is None


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_blocks():
    rng = np.random.default_rng(3)
    small, large = rng.normal(0.8, 0.05, 10), rng.normal(0.8, 0.05, 200)
    lo, hi = stats.bootstrap_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = stats.bootstrap_ci(large)
    assert hi2 - lo2 < hi - lo
    assert np.isnan(stats.bootstrap_ci(np.array([0.7]))).all(), "one value has no interval"
    assert stats.bootstrap_ci(np.array([0.7, 0.7, 0.7])) == (0.7, 0.7), "no spread, no width"
