"""Per-cell figures: ROC curve and normal-vs-anomalous score histogram."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.metrics import roc_points  # noqa: E402


def roc_figure(labels: np.ndarray, scores: np.ndarray, title: str, auroc: float) -> Figure:
    fpr, tpr = roc_points(labels, scores)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    ax.plot(fpr, tpr, lw=1.5, label=f"AUROC {auroc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def histogram_figure(
    labels: np.ndarray, scores: np.ndarray, title: str, threshold: float | None
) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=80)
    kind = np.where(np.asarray(labels) == 1, "anomalous", "normal")
    sns.histplot(
        x=scores, hue=kind, hue_order=["normal", "anomalous"], bins=50, stat="density",
        common_norm=False, element="step", ax=ax,
    )
    if threshold is not None:
        ax.axvline(threshold, c="black", ls="--", lw=1, label="threshold")
    ax.set(xlabel="anomaly score", title=title)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
