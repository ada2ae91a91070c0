"""Figures that papers and seed reports published, set beside what bench measures in the same setup.

A plugin declares its figures as data next to its defaults (``published`` on
the class): dataset, protocol, metric, value, source, and the class (or test
set) and hyperparameters where the figure is for one of them. The leaderboard
shows each one beside bench's mean over the matching cells, with the
difference; ``bench published --into docs/results.md`` writes the docs'
reproduction table from the same data, so no figure is typed twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.contract.published import Published
from bench.plugins import load_plugins
from bench.registry import METHODS

BLOCK_START, BLOCK_END = "<!-- published:start -->", "<!-- published:end -->"


def label_settings(label: str) -> tuple[str, dict[str, str]]:
    """``vae-elbo[arch=conv,epochs=40]`` as ``("vae-elbo", {"arch": "conv", "epochs": "40"})``."""
    name, _, rest = label.partition("[")
    pairs = [item.split("=", 1) for item in rest.rstrip("]").split(",") if "=" in item]
    return name, {k: v for k, v in pairs}


def declared() -> list[tuple[str, Published]]:
    """Every registered method's published figures."""
    load_plugins()
    return [(info.name, figure) for info, cls in METHODS for figure in cls.published]


def mean_figure(label: str, dataset: str, protocol: str) -> tuple[Published, bool] | None:
    """The figure published for a method's mean over every class of ``dataset`` (or the dataset it
    stands in for) under ``protocol``, and whether ``label`` ran the figure's settings; None if none."""
    name, settings = label_settings(label)
    for owner, fig in declared():
        mean_over_classes = fig.unit is None and fig.protocol == protocol
        if owner == name and mean_over_classes and dataset in (fig.dataset, *fig.stand_ins):
            return fig, _ran_setting(fig, settings)
    return None


def published_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per published figure and bench method label that ran its setup; figures no sweep ran
    keep a row with no measurement. Measured: the mean over the matching cells (classes, seeds)."""
    rows = []
    for name, fig in declared():
        for dataset in (fig.dataset, *fig.stand_ins):
            hits = _matching(cells, name, fig, dataset)
            groups = hits.groupby("method") if len(hits) else []
            for label, group in groups:
                measured = float(group[fig.metric].mean()) if fig.metric in group else np.nan
                rows.append(_row(label, dataset, fig, measured, len(group)))
            if not len(hits) and dataset == fig.dataset:
                rows.append(_row(name + _setting_words(fig), dataset, fig, np.nan, 0))
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = [
    "method",
    "dataset",
    "protocol",
    "class",
    "metric",
    "published",
    "bench",
    "diff",
    "cells",
    "source",
]


def _matching(cells: pd.DataFrame, name: str, fig: Published, dataset: str) -> pd.DataFrame:
    if cells.empty:
        return cells
    settings = cells["method"].map(label_settings)
    keep = settings.map(lambda s: s[0] == name and _ran_setting(fig, s[1]))
    keep &= (cells["dataset"] == dataset) & (cells["protocol"] == fig.protocol)
    if fig.unit is not None:
        keep &= cells["class"].astype(int) == fig.unit
    return cells[keep]


def _ran_setting(fig: Published, settings: dict[str, str]) -> bool:
    """Whether a method label's settings include every hyperparameter the figure was published with."""
    return {k: str(v) for k, v in fig.setting}.items() <= settings.items()


def _row(label: str, dataset: str, fig: Published, measured: float, n: int) -> dict[str, Any]:
    return {
        "method": label,
        "dataset": dataset if dataset == fig.dataset else f"{dataset} (for {fig.dataset})",
        "protocol": fig.protocol,
        "class": "all" if fig.unit is None else str(fig.unit),
        "metric": fig.metric,
        "published": fig.value,
        "bench": measured,
        "diff": measured - fig.value,
        "cells": n,
        "source": fig.source,
    }


def _setting_words(fig: Published) -> str:
    return f"[{','.join(f'{k}={v}' for k, v in fig.setting)}]" if fig.setting else ""


def published_markdown(table: pd.DataFrame) -> str:
    """The table as GitHub markdown; figures no sweep measured say "not run"."""
    header = ["method", "dataset", "protocol", "class", "metric", "published", "bench", "bench - published"]
    lines = ["| " + " | ".join([*header, "cells", "source"]) + " |", "|" + "---|" * (len(header) + 2)]
    for r in table.to_dict("records"):
        ran = r["cells"] > 0 and not pd.isna(r["bench"])
        measured = [f"{r['bench']:.3f}", f"{r['diff']:+.3f}"] if ran else ["not run", ""]
        words = [r["method"], r["dataset"], r["protocol"], r["class"], r["metric"], f"{r['published']:.3f}"]
        lines.append("| " + " | ".join([*words, *measured, str(r["cells"]), r["source"]]) + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, table_md: str) -> str:
    """``text`` with the block between the published markers replaced by ``table_md``."""
    start, end = text.find(BLOCK_START), text.find(BLOCK_END)
    if start < 0 or end < start:
        raise ValueError(f"no {BLOCK_START} ... {BLOCK_END} block")
    return text[: start + len(BLOCK_START)] + "\n" + table_md + text[end:]
