"""Figures per leaderboard: heatmap, CD diagram, ROC overlay (a cell's own: ``bench.report.cell_figures``).

Figures are built with matplotlib's object API (no pyplot state, nothing to
close). matplotlib and seaborn are imported at the first figure: a sweep's driver
imports this module but draws nothing, and seaborn (with scipy.stats) cost it
a second at every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.scoring.metrics import roc_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(**kwargs) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def heatmap_figure(table: pd.DataFrame, title: str) -> Figure:
    """Methods x classes, AUROC annotated, best methods on top."""
    table = table.loc[table.mean(axis=1).sort_values(ascending=False).index]
    label_width = 0.075 * max((len(str(m)) for m in table.index), default=10)
    size = (max(1.2 + 0.55 * table.shape[1] + label_width, 0.09 * len(title)), 1.0 + 0.32 * table.shape[0])
    fig = _figure(figsize=size, dpi=100, layout="constrained")
    ax = fig.subplots()
    import seaborn as sns

    sns.heatmap(table, annot=True, fmt=".2f", cmap="viridis", vmin=0.5, vmax=1.0, ax=ax, cbar=False,
                annot_kws={"fontsize": 7})  # fmt: skip
    ax.set(xlabel="class", ylabel="")
    ax.set_title(title, fontsize=9)
    return fig


def cd_figure(ranks: pd.Series, nemenyi: pd.DataFrame, cd: float, title: str) -> Figure:
    """Critical-difference diagram: mean ranks, bars joining methods Nemenyi cannot tell apart."""
    import scikit_posthocs as sp

    longest = max((len(str(m)) for m in ranks.index), default=10)
    fig = _figure(figsize=(6 + 0.16 * longest, 1.2 + 0.25 * len(ranks)), dpi=100, layout="constrained")
    ax = fig.subplots()
    sp.critical_difference_diagram(ranks, nemenyi, ax=ax, alpha=0.05)
    ax.set_title(f"{title} (critical difference {cd:.2f}, Nemenyi, alpha 0.05)", fontsize=9)
    return fig


def roc_overlay_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """One ROC curve per method (labels, scores) on one axis, legend with AUROC."""
    from bench.scoring.metrics import auroc

    fig = _figure(figsize=(5.5, 5), dpi=100, layout="constrained")
    ax = fig.subplots()
    order = sorted(curves, key=lambda m: -auroc(*curves[m]))
    for method in order:
        labels, scores = curves[method]
        fpr, tpr = roc_points(labels, scores)
        ax.plot(fpr, tpr, lw=1.2, label=f"{method} ({auroc(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=6)
    return fig
