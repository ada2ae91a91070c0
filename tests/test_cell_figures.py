"""A cell's figures are SVG text whose curves are the cell's numbers: the ROC curve's vertices are
scikit-learn's points, the histogram's steps numpy's densities, the threshold where it was."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from bench.report.cell_figures import MARGIN, cell_figures, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def polylines(svg: str) -> list[np.ndarray]:
    root = ET.fromstring(svg)
    return [
        np.array([[float(v) for v in p.split(",")] for p in line.get("points").split()])
        for line in root.iter(f"{SVG}polyline")
    ]


def to_data(points: np.ndarray, size: tuple[int, int], xlim, ylim) -> np.ndarray:
    """Pixels back to data: the inverse of the plot area's mapping."""
    width, height = size
    x0, x1, y0, y1 = MARGIN["left"], width - MARGIN["right"], height - MARGIN["bottom"], MARGIN["top"]
    x = xlim[0] + (points[:, 0] - x0) / (x1 - x0) * (xlim[1] - xlim[0])
    y = ylim[0] + (points[:, 1] - y0) / (y1 - y0) * (ylim[1] - ylim[0])
    return np.column_stack([x, y])


@pytest.fixture(scope="module")
def cell():
    rng = np.random.default_rng(0)
    labels = (rng.random(600) < 0.2).astype(int)
    scores = rng.normal(size=600) + 1.5 * labels
    return labels, scores, cell_figures(labels, scores, "knn · a&b <c> 0", 0.8512, 3.0)


def test_roc_vertices_are_scikit_learns_points(cell):
    labels, scores, figures = cell
    diagonal, curve = polylines(figures["roc.svg"])
    assert to_data(diagonal, (320, 320), (0, 1), (0, 1)).tolist() == [[0, 0], [1, 1]]
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    drawn, points = to_data(curve, (320, 320), (0, 1), (0, 1)), np.column_stack([fpr, tpr])
    gap = np.abs(drawn[:, None, :] - points[None, :, :]).max(axis=2)
    pixel = 0.051 / 254  # coordinates are written to a tenth of a pixel; one vertex per point drawn
    assert len(points) > 20 and gap.min(axis=0).max() <= pixel and gap.min(axis=1).max() <= pixel


def test_histogram_steps_are_the_densities_and_the_threshold_is_drawn_where_it_is(cell):
    labels, scores, figures = cell
    svg = figures["score_histogram.svg"]
    normal, anomalous, threshold = polylines(svg)
    bins = np.histogram_bin_edges(scores, bins=50)
    densities = [np.histogram(scores[labels == v], bins=bins, density=True)[0] for v in (0, 1)]
    top = max(d.max() for d in densities) * 1.05
    xlim = (bins[0], max(bins[-1], 3.0))
    for line, density in zip((normal, anomalous), densities, strict=True):
        drawn = to_data(line, (400, 280), xlim, (0, top))
        centres = (bins[:-1] + bins[1:]) / 2
        flat = [(x0, x1, y0) for (x0, y0), (x1, y1) in itertools.pairwise(drawn) if abs(y1 - y0) < 1e-9]
        heights = [next(y for x0, x1, y in flat if x0 <= c <= x1) for c in centres]  # each bin's step
        np.testing.assert_allclose(heights, density, atol=0.06 * top / 212)
    assert to_data(threshold, (400, 280), xlim, (0, top))[:, 0] == pytest.approx([3.0, 3.0], abs=1e-3)
    assert "dashed: threshold" in svg


def test_titles_are_escaped_and_the_text_reads_back(cell):
    _, _, figures = cell
    for svg in figures.values():
        root = ET.fromstring(svg)  # well-formed despite the title's & and <>
        texts = [t.text for t in root.iter(f"{SVG}text")]
        assert "knn · a&b <c> 0" in texts
    assert "AUROC 0.851" in figures["roc.svg"] and figures["roc.svg"]._repr_svg_() == figures["roc.svg"]


def test_one_class_only_and_no_threshold_still_draw():
    scores = np.linspace(0, 1, 50)
    figures = cell_figures(np.zeros(50, int), scores, "t", float("nan"), None)
    assert len(polylines(figures["score_histogram.svg"])) == 1  # the normal scores, no threshold line
    same = cell_figures(np.array([0, 1] * 5), np.ones(10), "t", 0.5, None)  # every score alike
    (_, curve) = polylines(same["roc.svg"])
    assert to_data(curve, (320, 320), (0, 1), (0, 1)).tolist() == [[0, 0], [1, 1]]  # one tie: chance
    assert len(polylines(same["score_histogram.svg"])) == 2
    assert not re.search(r"nan|inf", same["score_histogram.svg"])


@pytest.mark.parametrize(
    "lo, hi, ticks",
    [
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (-4.2, 5.1, [-4, -2, 0, 2, 4]),
        (0.5, 0.5, [0.5]),
        (0, 37, [0, 10, 20, 30]),
    ],
)
def test_ticks_are_round_numbers_inside_the_limits(lo, hi, ticks):
    assert nice_ticks(lo, hi) == pytest.approx(ticks)
