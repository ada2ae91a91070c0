"""Cell runs out of one MLflow store and into another, as bundles (``bench.tracking.bundle``).

Export copies every finished and failed cell run of an experiment as it is (tags, params, metrics,
times), under the id it was first made with (a run an import brought in keeps its bundle's id), so an
import re-creates the same runs, every report built from them is the same, and a bundle imported and
exported again is the same bundle. Import adds each run once: a run already in the store (by its run
id, here or where it was first made) or a cell the store holds with the same result adds nothing,
and a cell the store holds with another result is kept apart as a ``conflict`` run that no
leaderboard reads, never over the store's own.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from bench import schema
from bench.tracking.bundle import Bundle, write_bundle
from bench.tracking.sqlite import store_lock
from bench.tracking.tags import KIND_CELL, KIND_CONFLICT, KIND_SWEEP
from bench.tracking.tracker import Tracker

STATUSES = ("FINISHED", "FAILED")  # what a cell ended as; RUNNING and KILLED runs are not results
SOURCE_RUN, BUNDLE = schema.SOURCE_RUN, schema.BUNDLE  # where an imported run came from
LOCAL = (schema.OWNER, schema.MLFLOW_PREFIX, SOURCE_RUN, BUNDLE)  # tags of the process or store, not the cell
SCORE_TYPES = {"index": "int64", "source": "string", "anomaly": "int8", "class": "int64", "score": "float64"}


@dataclass
class Imported:
    """What an import did: runs added, runs the store already held, cells kept apart."""

    added: int = 0
    present: int = 0
    conflicts: list[str] = field(default_factory=list)
    bundle: str = ""  # the bundle's id, the experiment and the store it went into
    experiment: str = ""
    uri: str = ""


def export_experiment(tracker: Tracker, folder: Path, scores: bool = False) -> Bundle:
    """Write the experiment's cell runs (with every finished cell's test scores, if asked) as a bundle."""
    runs = [r for r in tracker.runs.runs_of_kind(KIND_CELL) if r.info.status in STATUSES]
    runs.sort(key=lambda r: (r.info.start_time, origin(r)))
    cells = pd.DataFrame([_row(r) for r in runs])
    for column in cells.columns:
        if column.startswith("metrics."):
            cells[column] = cells[column].astype("float64")
    table = None
    if scores:
        table = _scores(tracker, [r for r in runs if r.info.status == "FINISHED"])
    about = {
        "bench": metadata.version("bench"),
        "experiment": tracker.experiment_name,
        "cells": sum(r.info.status == "FINISHED" for r in runs),
        "failed": sum(r.info.status == "FAILED" for r in runs),
        "scores": scores,
        "na": [json.loads(n) for n in sorted({json.dumps(n) for n in tracker.runs.sweep_notes()})],
    }
    return write_bundle(folder, cells, table, about)


def import_bundle(tracker: Tracker, bundle: Bundle) -> Imported:
    """Add the bundle's runs to the tracker's experiment, each once (see the module's docstring)."""
    done = Imported()
    scores = dict(tuple(bundle.scores.groupby("run_id"))) if bundle.scores is not None else {}
    with store_lock(tracker.uri):
        before = tracker.runs.runs_of_kind(KIND_CELL) + tracker.runs.runs_of_kind(KIND_CONFLICT)
        known = {r.info.run_id for r in before} | {r.data.tags.get(SOURCE_RUN) for r in before}
        ran = {r.data.tags.get(schema.CELL_KEY) for r in before if r.info.status in STATUSES}
        finished: dict[str, list[dict[str, float]]] = {}  # cell key -> the results the store holds
        for r in before:
            if r.data.tags.get(schema.KIND) == KIND_CELL and r.info.status == "FINISHED":
                finished.setdefault(r.data.tags.get(schema.CELL_KEY, ""), []).append(_finite(r.data.metrics))
        for row in bundle.cells.to_dict("records"):
            tags, params, metrics = _split(row)
            key, status = tags.get(schema.CELL_KEY, ""), row["status"]
            ours = finished.get(key, [])
            if row["run_id"] in known or (status == "FAILED" and key in ran) or metrics in ours:
                done.present += 1
                continue
            if status == "FINISHED" and ours:
                tags[schema.KIND] = KIND_CONFLICT
                done.conflicts.append(_conflict_line(tags, metrics, ours))
            tags |= {SOURCE_RUN: row["run_id"], BUNDLE: bundle.id}
            texts = {}
            if row["run_id"] in scores:
                texts["scores.csv"] = scores[row["run_id"]].drop(columns="run_id").to_csv(index=False)
            tracker.log_run(
                name=row["run_name"],
                tags=tags,
                params=params,
                metrics=metrics,
                status=status,
                texts=texts,
                start_time=int(row["start_time"]),
                end_time=_int_or_none(row.get("end_time")),
            )
            done.added += tags[schema.KIND] == KIND_CELL
        if bundle.na and tracker.runs.find_run(KIND_SWEEP, BUNDLE, bundle.id) is None:
            tracker.log_run(
                name=f"imported {bundle.id}",
                tags={
                    schema.KIND: KIND_SWEEP,
                    schema.SWEEP_ID: f"import {bundle.id}",
                    BUNDLE: bundle.id,
                    schema.NA: json.dumps(bundle.na),
                },
                params={},
                metrics={},
            )
    return done


def origin(run: Any) -> str:
    """The id a cell run was first made with: its own, or the bundle's for a run an import added."""
    return run.data.tags.get(SOURCE_RUN, run.info.run_id)


def _row(run: Any) -> dict[str, Any]:
    info, data = run.info, run.data
    row = {
        "run_id": origin(run),
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "run_name": info.run_name or "",
    }
    row |= {f"tags.{k}": v for k, v in sorted(data.tags.items()) if not k.startswith(LOCAL)}
    row |= {f"params.{k}": v for k, v in sorted(data.params.items())}
    row |= {f"metrics.{k}": v for k, v in sorted(data.metrics.items())}
    return row


def _split(row: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, float]]:
    """A bundle row's tags, params and (finite) metrics, leaving out the columns it does not have."""
    parts: dict[str, dict[str, Any]] = {"tags": {}, "params": {}, "metrics": {}}
    for column, value in row.items():
        kind, _, name = column.partition(".")
        if kind in parts and value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts[kind][name] = value
    return parts["tags"], parts["params"], _finite(parts["metrics"])


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def _scores(tracker: Tracker, runs: list[Any]) -> pd.DataFrame:
    tables = []
    with tempfile.TemporaryDirectory() as scratch:
        for run in runs:
            try:
                table = tracker.runs.cell_scores(run.info.run_id, Path(scratch))
            except Exception:  # a run from before cells logged their scores
                continue
            tables.append(table.astype(SCORE_TYPES).assign(run_id=origin(run)))
    columns = ["run_id", *SCORE_TYPES]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


def _conflict_line(tags: dict[str, str], metrics: dict[str, float], ours: list[dict[str, float]]) -> str:
    names = (schema.METHOD_LABEL, "dataset", schema.PROTOCOL_LABEL, "class", "seed")
    cell = " | ".join(tags.get(k, "?") for k in names)
    theirs, mine = metrics.get("auroc", math.nan), ours[0].get("auroc", math.nan)
    return f"{cell}: AUROC {theirs:.4f} in the bundle, {mine:.4f} in this store"


def _int_or_none(value: Any) -> int | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)
