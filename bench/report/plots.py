"""Figures: per cell (ROC curve, score histogram) and per leaderboard (heatmap, CD diagram, ROC overlay).

Figures are built with matplotlib's object API (no pyplot state, nothing to
close) and fixed margins: ``tight_layout`` doubled the cost of a cell on digits.
matplotlib and seaborn are imported at the first figure: a sweep's driver
imports this module but draws nothing, and seaborn (with scipy.stats) cost it
a second at every start.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.scoring.metrics import roc_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 72


def _figure(**kwargs) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def roc_figure(labels: np.ndarray, scores: np.ndarray, title: str, auroc: float) -> Figure:
    fpr, tpr = roc_points(labels, scores)
    fig = _figure(figsize=(4, 4), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.15, bottom=0.12, top=0.9, right=0.96)
    ax.plot(fpr, tpr, lw=1.5, label=f"AUROC {auroc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="lower right")
    return fig


def histogram_figure(labels: np.ndarray, scores: np.ndarray, title: str, threshold: float | None) -> Figure:
    """Normal and anomalous scores as densities over shared bins (matplotlib's own ``hist``: a
    third of seaborn's ``histplot`` time, which a cheap cell felt)."""
    fig = _figure(figsize=(5, 3.5), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.12, bottom=0.14, top=0.9, right=0.97)
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    bins = np.histogram_bin_edges(scores, bins=50)
    for value, name, colour in ((0, "normal", "C0"), (1, "anomalous", "C1")):
        group = scores[labels == value]
        if len(group):
            ax.hist(group, bins=bins, density=True, histtype="stepfilled", alpha=0.25, color=colour)
            ax.hist(group, bins=bins, density=True, histtype="step", color=colour, label=name)
    if threshold is not None:
        ax.axvline(threshold, c="black", ls="--", lw=1)
    ax.set_xlabel("anomaly score" + ("" if threshold is None else " (dashed: threshold)"))
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=8)
    return fig


def cell_figures(
    labels: np.ndarray, scores: np.ndarray, title: str, auroc: float, threshold: float | None
) -> dict[str, bytes]:
    """Both per-cell figures as PNG bytes, by artifact name: plain data, drawn in any process."""
    out = {}
    for name, fig in (
        ("roc.png", roc_figure(labels, scores, title, auroc)),
        ("score_histogram.png", histogram_figure(labels, scores, title, threshold)),
    ):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})  # a third faster than 6
        out[name] = buf.getvalue()
    return out


def write_files(figures: dict[str, bytes], folder: str) -> dict[str, str]:
    """Write named PNG bytes into ``folder``; returns {artifact name: file path}."""
    paths = {}
    for name, data in figures.items():
        paths[name] = str(Path(folder) / name)
        Path(paths[name]).write_bytes(data)
    return paths


def ready() -> None:
    """Submitted first: the figure worker imports matplotlib (all a cell's figures use) before any
    cell ends."""
    from matplotlib.figure import Figure  # noqa: F401


def render_cell_figures(
    labels: np.ndarray, scores: np.ndarray, title: str, auroc: float, threshold: float | None, folder: str
) -> dict[str, str]:
    """Draw both per-cell figures into ``folder`` (the serial sweep's figure worker calls this)."""
    return write_files(cell_figures(labels, scores, title, auroc, threshold), folder)


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
