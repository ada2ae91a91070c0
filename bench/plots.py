"""Per-cell figures: ROC curve and normal-vs-anomalous score histogram.

Figures are built with matplotlib's object API (no pyplot state, nothing to
close) and fixed margins: ``tight_layout`` doubled the cost of a cell on digits.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from bench.metrics import roc_points

DPI = 72


def roc_figure(labels: np.ndarray, scores: np.ndarray, title: str, auroc: float) -> Figure:
    fpr, tpr = roc_points(labels, scores)
    fig = Figure(figsize=(4, 4), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.15, bottom=0.12, top=0.9, right=0.96)
    ax.plot(fpr, tpr, lw=1.5, label=f"AUROC {auroc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="lower right")
    return fig


def histogram_figure(labels: np.ndarray, scores: np.ndarray, title: str, threshold: float | None) -> Figure:
    fig = Figure(figsize=(5, 3.5), dpi=DPI)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.12, bottom=0.14, top=0.9, right=0.97)
    kind = np.where(np.asarray(labels) == 1, "anomalous", "normal")
    sns.histplot(
        x=scores,
        hue=kind,
        hue_order=["normal", "anomalous"],
        bins=50,
        stat="density",
        common_norm=False,
        element="step",
        ax=ax,
    )
    if threshold is not None:
        ax.axvline(threshold, c="black", ls="--", lw=1)
    ax.set_xlabel("anomaly score" + ("" if threshold is None else " (dashed: threshold)"))
    ax.set_title(title, fontsize=8)
    return fig


def render_cell_figures(
    labels: np.ndarray, scores: np.ndarray, title: str, auroc: float, threshold: float | None, folder: str
) -> dict[str, str]:
    """Draw both per-cell figures into ``folder``; returns {artifact name: file path}.

    Runs in a worker process (see ``bench.runner.FigureWorker``), so it takes and
    returns plain data only.
    """
    out = {}
    for name, fig in (
        ("roc.png", roc_figure(labels, scores, title, auroc)),
        ("score_histogram.png", histogram_figure(labels, scores, title, threshold)),
    ):
        path = f"{folder}/{name}"
        fig.savefig(path, format="png")
        out[name] = path
    return out
