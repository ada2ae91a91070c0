"""A cell's two figures, its ROC curve and its score histogram, written as SVG text.

Every finished cell carries them (the MLflow UI shows SVG artifacts as images). matplotlib
drew and encoded the two as PNGs in 0.13 s a cell, most of a cheap cell's cost
outside its fit; writing the few lines and paths as text takes about a millisecond,
so a cell draws its own figures wherever it runs. The leaderboard's figures
(heatmaps, CD diagrams, ROC overlays) stay matplotlib's (``bench.report.plots``).
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from bench.scoring.metrics import roc_points

NORMAL, ANOMALOUS = "#1f77b4", "#ff7f0e"  # matplotlib's first two colours, as the leaderboard's figures
MARGIN = {"left": 52, "right": 14, "top": 26, "bottom": 42}


class Svg(str):
    """SVG text that a notebook shows as the figure it is."""

    def _repr_svg_(self) -> str:
        return str(self)


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) inside [lo, hi]."""
    span = hi - lo
    if not span > 0 or not math.isfinite(span):
        return [lo]
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


class _Axes:
    """A plot area of ``width`` x ``height`` px mapping data limits to pixels, collecting SVG elements."""

    def __init__(self, width: int, height: int, xlim: tuple[float, float], ylim: tuple[float, float]):
        self.width, self.height = width, height
        self.x0, self.x1 = MARGIN["left"], width - MARGIN["right"]
        self.y0, self.y1 = height - MARGIN["bottom"], MARGIN["top"]
        self.xlim, self.ylim = xlim, ylim
        self.parts: list[str] = []

    def px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (a, b), (c, d) = self.xlim, self.ylim
        return (
            self.x0 + (np.asarray(x, float) - a) / (b - a) * (self.x1 - self.x0),
            self.y0 + (np.asarray(y, float) - c) / (d - c) * (self.y1 - self.y0),
        )

    def line(self, x: np.ndarray, y: np.ndarray, style: str, fill: str = 'fill="none"') -> None:
        px, py = self.px(x, y)
        points = [f"{u:.1f},{v:.1f}" for u, v in zip(px, py, strict=True)]
        points = " ".join(p for i, p in enumerate(points) if i == 0 or p != points[i - 1])  # no repeats
        self.parts.append(f'<polyline points="{points}" {fill} {style}/>')

    def text(self, x: float, y: float, words: str, anchor: str = "middle", extra: str = "") -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(words)}</text>'
        )

    def svg(self, title: str, xlabel: str, ylabel: str) -> Svg:
        """The frame, ticks and labels around what was drawn."""
        frame = [
            f'<rect x="{self.x0}" y="{self.y1}" width="{self.x1 - self.x0}" height="{self.y0 - self.y1}" '
            'fill="none" stroke="black" stroke-width="0.8"/>'
        ]
        for value in nice_ticks(*self.xlim):
            x, _ = self.px(np.array([value]), np.array([self.ylim[0]]))
            frame.append(
                f'<line x1="{x[0]:.1f}" y1="{self.y0}" x2="{x[0]:.1f}" y2="{self.y0 + 4}" stroke="black"/>'
            )
            frame.append(f'<text x="{x[0]:.1f}" y="{self.y0 + 15}" text-anchor="middle">{value:g}</text>')
        for value in nice_ticks(*self.ylim):
            _, y = self.px(np.array([self.xlim[0]]), np.array([value]))
            frame.append(
                f'<line x1="{self.x0 - 4}" y1="{y[0]:.1f}" x2="{self.x0}" y2="{y[0]:.1f}" stroke="black"/>'
            )
            frame.append(f'<text x="{self.x0 - 6}" y="{y[0] + 3:.1f}" text-anchor="end">{value:g}</text>')
        middle_x, middle_y = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        labels = [
            f'<text x="{middle_x:.1f}" y="{self.height - 8}" text-anchor="middle">{escape(xlabel)}</text>',
            f'<text x="12" y="{middle_y:.1f}" text-anchor="middle" transform="rotate(-90 12 {middle_y:.1f})">'
            f"{escape(ylabel)}</text>",
            f'<text x="{middle_x:.1f}" y="16" text-anchor="middle" font-size="10">{escape(title)}</text>',
        ]
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" font-family="sans-serif" font-size="11">'
            f'<rect width="{self.width}" height="{self.height}" fill="white"/>'
        )
        return Svg("\n".join([head, *self.parts, *frame, *labels, "</svg>"]) + "\n")


def roc_svg(labels: np.ndarray, scores: np.ndarray, title: str, auroc: float) -> Svg:
    """The ROC curve, its AUROC in the corner, and the chance diagonal."""
    fpr, tpr = roc_points(labels, scores)
    axes = _Axes(320, 320, (0.0, 1.0), (0.0, 1.0))
    axes.line(np.array([0, 1]), np.array([0, 1]), 'stroke="grey" stroke-width="0.8" stroke-dasharray="4 3"')
    axes.line(fpr, tpr, f'stroke="{NORMAL}" stroke-width="1.5"')
    axes.text(axes.x1 - 8, axes.y0 - 10, f"AUROC {auroc:.3f}", anchor="end")
    return axes.svg(title, "false positive rate", "true positive rate")


def histogram_svg(labels: np.ndarray, scores: np.ndarray, title: str, threshold: float | None) -> Svg:
    """Normal and anomalous scores as densities over 50 shared bins; the threshold dashed, if any."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    bins = np.histogram_bin_edges(scores, bins=50)
    groups = [
        (scores[labels == v], name, colour)
        for v, name, colour in ((0, "normal", NORMAL), (1, "anomalous", ANOMALOUS))
    ]
    densities = [np.histogram(g, bins=bins, density=True)[0] if len(g) else None for g, _, _ in groups]
    top = max((float(d.max()) for d in densities if d is not None), default=1.0) * 1.05 or 1.0
    lo, hi = float(bins[0]), float(bins[-1])
    if threshold is not None and math.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    axes = _Axes(400, 280, (lo, hi), (0.0, top))
    for (_, _, colour), density in zip(groups, densities, strict=True):
        if density is None:
            continue
        x = np.repeat(bins, 2)
        y = np.concatenate([[0.0], np.repeat(density, 2), [0.0]])
        axes.line(x, y, f'stroke="{colour}" stroke-width="1"', fill=f'fill="{colour}" fill-opacity="0.25"')
    if threshold is not None and math.isfinite(threshold):
        axes.line(
            np.array([threshold, threshold]), np.array([0, top]), 'stroke="black" stroke-dasharray="4 3"'
        )
    for i, ((_, name, colour), density) in enumerate(zip(groups, densities, strict=True)):
        if density is not None:
            axes.text(axes.x1 - 8, axes.y1 + 14 + 14 * i, name, anchor="end", extra=f' fill="{colour}"')
    xlabel = "anomaly score" + ("" if threshold is None else " (dashed: threshold)")
    return axes.svg(title, xlabel, "density")


def cell_figures(
    labels: np.ndarray, scores: np.ndarray, title: str, auroc: float, threshold: float | None
) -> dict[str, Svg]:
    """Both per-cell figures by artifact name: plain text, drawn in any process."""
    return {
        "roc.svg": roc_svg(labels, scores, title, auroc),
        "score_histogram.svg": histogram_svg(labels, scores, title, threshold),
    }
