"""A bundle's cells beside the same cells run here: per cell the bundle's and this machine's
metrics and their difference, a summary against a tolerance, and the provenance that differs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench import schema
from bench.report.by_class import table_markdown
from bench.scoring.metrics import METRICS, PRIMARY
from bench.tracking.bundle import Bundle
from bench.tracking.tables import RunRecord

COMPARED = tuple(m.key for m in METRICS if m.key != schema.FIT_SECONDS)  # what a cell measured, not its cost
PROVENANCE = {  # what may explain a difference: the tags compared, in words
    "CPU": schema.ENV_CPU,
    "device": schema.DEVICE,
    "GPU": schema.ENV_GPU,
    "torch": schema.ENV_TORCH,
    "numpy": schema.ENV_NUMPY,
    "threads": schema.ENV_THREADS,
    "bench commit": schema.ENV_BENCH_COMMIT,
}
IDENTICAL, WITHIN, OUTSIDE, STATUS, NOT_REBUILT = (
    "identical", "within tolerance", "OUTSIDE tolerance", "status differs", "not rebuilt"
)  # fmt: skip


@dataclass(frozen=True)
class Reproduction:
    """``cells``: one row per bundle cell selected (its bundle and local status, AUROC both ways,
    ``d_auroc``, the largest difference over every metric both have, and the verdict); ``na``: the
    bundle's n/a entries; ``provenance``: the tags whose values differ between the two."""

    bundle: str
    cells: pd.DataFrame
    na: tuple[str, ...]
    provenance: pd.DataFrame
    tolerance: float

    @property
    def ok(self) -> bool:
        """Every selected cell rebuilt, run and within the tolerance (FAILED on both sides counts)."""
        return bool(self.cells["verdict"].isin([IDENTICAL, WITHIN]).all())

    def summary(self) -> dict[str, float]:
        d = self.cells["d_auroc"].abs().dropna()
        counts = self.cells["verdict"].value_counts()
        return {
            "cells": len(self.cells),
            **{verdict: int(counts.get(verdict, 0)) for verdict in (IDENTICAL, WITHIN, OUTSIDE, STATUS)},
            NOT_REBUILT: int(self.cells["verdict"].str.startswith(NOT_REBUILT).sum()),
            "max |dAUROC|": float(d.max()) if len(d) else float("nan"),
            "mean |dAUROC|": float(d.mean()) if len(d) else float("nan"),
        }

    def text(self) -> str:
        """The report as ``bench reproduce`` prints it."""
        shown = self.cells.assign(**{c: self.cells[c].map(_number) for c in ("auroc_bundle", "auroc_here")})
        shown = shown.assign(d_auroc=self.cells["d_auroc"].map(lambda v: _number(v, "+.2e")))
        columns = ["method", "dataset", "protocol", "class", "seed", "bundle", "here",
                   "auroc_bundle", "auroc_here", "d_auroc", "verdict"]  # fmt: skip
        lines = [table_markdown(shown[columns]), ""]
        lines += [f"n/a in the bundle: {line}" for line in self.na]
        s = self.summary()
        lines.append(
            f"{s['cells']} cells: {s[IDENTICAL]} identical, {s[WITHIN]} within {self.tolerance:g}, "
            f"{s[OUTSIDE]} outside, {s[STATUS]} with another status, {s[NOT_REBUILT]} not rebuilt; "
            f"max |dAUROC| {_number(s['max |dAUROC|'], '.2e')}, mean {_number(s['mean |dAUROC|'], '.2e')}"
        )
        if len(self.provenance):
            lines += ["", "Provenance that differs:", table_markdown(self.provenance)]
        return "\n".join(lines)


def _number(value: float, fmt: str = ".4f") -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def compare(
    bundle: Bundle, chosen: pd.DataFrame, records: Sequence[RunRecord], why: dict[str, str], tolerance: float
) -> Reproduction:
    """The bundle's ``chosen`` cells beside the newest local run of each (``why``: the cells that
    could not be rebuilt here, and why)."""
    newest: dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: r.start_time):
        newest[record.tags.get(schema.CELL_KEY, "")] = record
    rows = [_row(theirs, newest.get(theirs[f"tags.{schema.CELL_KEY}"]), why, tolerance)
            for _, theirs in chosen.iterrows()]  # fmt: skip
    here = [newest[k] for k in chosen[f"tags.{schema.CELL_KEY}"] if k in newest]
    na = tuple(" · ".join(str(part) for part in entry) for entry in bundle.na)
    return Reproduction(bundle.id, pd.DataFrame(rows), na, _provenance(chosen, here), tolerance)


def _row(theirs: pd.Series, mine: RunRecord | None, why: dict[str, str], tolerance: float) -> dict:
    key = theirs[f"tags.{schema.CELL_KEY}"]
    row = {
        "method": theirs[f"tags.{schema.METHOD_LABEL}"],
        "dataset": theirs[f"tags.{schema.DATASET}"],
        "protocol": theirs.get(f"tags.{schema.PROTOCOL_LABEL}", theirs[f"tags.{schema.PROTOCOL}"]),
        "class": int(theirs[f"tags.{schema.CLASS}"]),
        "seed": int(theirs[f"tags.{schema.SEED}"]),
        "bundle": theirs["status"],
        "here": mine.status if mine else "",
        "auroc_bundle": theirs.get(f"metrics.{PRIMARY.key}", np.nan),
        "auroc_here": mine.metrics.get(PRIMARY.key, np.nan) if mine else np.nan,
        schema.CELL_KEY: key,
    }
    both = {
        k: (float(theirs[f"metrics.{k}"]), float(mine.metrics[k]))
        for k in COMPARED
        if mine and k in mine.metrics and pd.notna(theirs.get(f"metrics.{k}"))
    }
    row["d_auroc"] = row["auroc_here"] - row["auroc_bundle"]
    row["max_abs_d"] = max((abs(b - a) for a, b in both.values()), default=np.nan)
    if key in why:
        row["verdict"] = f"{NOT_REBUILT}: {why[key]}"
    elif mine is None:
        row["verdict"] = f"{NOT_REBUILT}: it did not run here"
    elif mine.status != theirs["status"]:
        row["verdict"] = STATUS
    elif all(a == b for a, b in both.values()):  # (FAILED both times: nothing to compare, the same)
        row["verdict"] = IDENTICAL
    else:
        row["verdict"] = WITHIN if row["max_abs_d"] <= tolerance else OUTSIDE
    return row


def _provenance(chosen: pd.DataFrame, here: Sequence[RunRecord]) -> pd.DataFrame:
    rows = []
    for words, tag in PROVENANCE.items():
        column = f"tags.{tag}"
        theirs = sorted({str(v) for v in chosen[column].dropna()}) if column in chosen else []
        mine = sorted({r.tags[tag] for r in here if tag in r.tags})
        if theirs != mine and (theirs or mine):
            rows.append({"what": words, "bundle": ", ".join(theirs) or "—", "here": ", ".join(mine) or "—"})
    return pd.DataFrame(rows, columns=["what", "bundle", "here"])
