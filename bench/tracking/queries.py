"""Reading bench's runs back from MLflow: finished cells and their tables, scores, sweep notes.

The reads of one experiment: what the runner, the leaderboard, bundles and tune ask of the store.
A ``Tracker`` (``bench.tracking.tracker``, the writes) holds them as ``tracker.runs``, on its client.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from bench import schema
from bench.tracking.tables import RunRecord, read_runs
from bench.tracking.tags import KIND_CELL, KIND_SWEEP, KIND_TRIAL


class Runs:
    """Queries of one experiment's runs, through an open store's client."""

    def __init__(self, client: Any, experiment_id: str, uri: str) -> None:
        self.client, self.experiment_id, self.uri = client, experiment_id, uri

    def find_run(self, kind: str, tag: str | None = None, value: str = "") -> str | None:
        """The newest run of ``kind`` (whose ``tag`` equals ``value``, if given), if any."""
        query = f"tags.`{schema.KIND}` = '{kind}'" + (f" and tags.`{tag}` = '{value}'" if tag else "")
        runs = self.search(query)
        return max(runs, key=lambda r: r.info.start_time).info.run_id if runs else None

    def trial_numbers(self, study: str) -> set[int]:
        """The trial numbers of ``study`` that already have a run."""
        runs = self.search(f"tags.`{schema.KIND}` = '{KIND_TRIAL}' and tags.`{schema.STUDY}` = '{study}'")
        return {int(r.data.tags[schema.TRIAL]) for r in runs if schema.TRIAL in r.data.tags}

    def cell_scores(self, run_id: str, scratch: Path) -> pd.DataFrame:
        """The ``scores.csv`` a cell run logged (index, source, anomaly, class, score)."""
        path = self.client.download_artifacts(run_id, "scores.csv", str(scratch))
        return pd.read_csv(path)

    def curve(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """A metric's history on a run (a fit's curve) as (step, value) pairs, by step."""
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))

    def runs_of_kind(self, kind: str) -> list[Any]:
        """Every run of ``kind`` (cell, sweep, ...) in the experiment, whatever its status."""
        return self.search(f"tags.`{schema.KIND}` = '{kind}'")

    def search(self, filter_string: str) -> list[Any]:
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                max_results=5000,
                page_token=token,
            )
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def experiment_names(self) -> list[str]:
        """Every experiment in this store (a leaderboard reads one; published figures read all)."""
        return sorted(e.name for e in self.client.search_experiments())

    def finished_cell_keys(self) -> set[str]:
        return set(self.finished_cells())

    def finished_cells(self, records: list[RunRecord] | None = None) -> dict[str, tuple[str, str]]:
        """Every finished cell's key, with its dataset and that dataset's content digest (from
        ``records``, the finished cell runs, where the caller has read them already)."""
        return {
            r.tags[schema.CELL_KEY]: (r.tags.get("dataset", ""), r.tags.get(schema.DATA_DIGEST, ""))
            for r in (self.cell_records() if records is None else records)
            if schema.CELL_KEY in r.tags
        }

    def row_seconds(self, records: list[RunRecord] | None = None) -> dict[tuple[str, str, str], float]:
        """What a cell of each row (method label, dataset, protocol label) took in this experiment
        before: the median of its finished cells' fit and scoring seconds, where a sweep's order
        starts (``bench.sweep.order``; ``records`` as for ``finished_cells``)."""
        took: dict[tuple[str, str, str], list[float]] = {}
        for r in self.cell_records() if records is None else records:
            tags, metrics = r.tags, r.metrics
            if schema.FIT_SECONDS in metrics:
                row = (
                    tags.get(schema.METHOD_LABEL, ""),
                    tags.get(schema.DATASET, ""),
                    tags.get(schema.PROTOCOL_LABEL, ""),
                )
                took.setdefault(row, []).append(
                    metrics[schema.FIT_SECONDS] + metrics.get(schema.SCORE_SECONDS, 0.0)
                )
        return {row: statistics.median(seconds) for row, seconds in took.items()}

    def cell_records(
        self, status: str | None = "FINISHED", cell_key: str | None = None, params: bool = False
    ) -> list[RunRecord]:
        """Every cell run of ``status`` (any, for None; of one ``cell_key``, if given): id, start
        time, status, tags, metrics (and ``params``); from a local store's tables directly, else by
        MLflow's search."""
        fast = read_runs(self.uri, self.experiment_id, KIND_CELL, status, cell_key, params)
        if fast is not None:
            return fast
        query = f"tags.`{schema.KIND}` = '{KIND_CELL}'"
        query += f" and attributes.status = '{status}'" if status is not None else ""
        query += f" and tags.{schema.CELL_KEY} = '{cell_key}'" if cell_key is not None else ""
        return [
            RunRecord(
                r.info.run_id,
                r.info.start_time,
                r.info.status,
                r.data.tags,
                r.data.metrics,
                r.data.params if params else {},
            )
            for r in self.search(query)
        ]

    def cell_table(self, status: str = "FINISHED") -> pd.DataFrame:
        """Every cell run of ``status``: tags and metrics as columns, newest first."""
        rows = [
            {"run_id": r.run_id, "start_time": r.start_time, **r.tags, **r.metrics}
            for r in self.cell_records(status)
        ]
        df = pd.DataFrame(rows)
        return df.sort_values("start_time", ascending=False) if len(df) else df

    def sweep_notes(self) -> list[dict[str, str]]:
        """The n/a entries recorded by every sweep of this experiment."""
        notes = []
        for run in self.search(f"tags.`{schema.KIND}` = '{KIND_SWEEP}'"):
            raw = run.data.tags.get(schema.NA)
            if raw:
                notes += json.loads(raw)
        return notes
