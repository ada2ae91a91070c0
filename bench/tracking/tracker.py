"""The one place that talks to MLflow: cell runs, sweep runs and tune runs written (the
experiment opened in ``bench.tracking.experiment``, the reads in ``bench.tracking.queries``).

Only the driver process calls this module. It uses ``MlflowClient`` with
explicit run ids (the fluent ``mlflow.*`` API keeps global state and is not
thread-safe). A cell's run is created when the cell has finished and is
terminated last, so a run left RUNNING by a killed sweep never counts.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench import schema
from bench.data.protocol import protocol_settings
from bench.errors import BenchError
from bench.tracking import owner
from bench.tracking.experiment import open_experiment, show
from bench.tracking.queries import Runs
from bench.tracking.sqlite import retrying, sqlite_uri, store_lock
from bench.tracking.tags import KIND_CELL, KIND_SWEEP, cell_tags, param_value

if TYPE_CHECKING:
    from bench.cell import Cell, Outcome


def default_uri(results: Path) -> str:
    return sqlite_uri(results / "mlflow.db")


class Tracker:
    """An MLflow experiment that holds a benchmark's cell runs and sweep runs: the writes here, the
    reads in ``runs`` (``bench.tracking.queries``)."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        self.uri = uri
        self.experiment_name = experiment
        self.client, self.experiment_id = open_experiment(uri, experiment, artifact_root)
        self.runs = Runs(self.client, self.experiment_id, uri)

    @classmethod
    def existing(cls, results: str | Path, tracking_uri: str | None, experiment: str) -> Tracker:
        """``experiment`` of a store that must exist already (a report or an export of nothing is a
        user error, not a new empty store): ``tracking_uri``, or the one under ``results``."""
        results = Path(results)
        if not tracking_uri and not (results / "mlflow.db").is_file():
            raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
        return cls(tracking_uri or default_uri(results), experiment, results / "artifacts")

    # ---- writing -------------------------------------------------------------

    def log_run(
        self,
        *,
        name: str,
        tags: dict[str, str],
        params: dict[str, Any],
        metrics: dict[str, float],
        curves: dict[str, dict[int, float]] | None = None,
        status: str = "FINISHED",
        texts: dict[str, str | bytes] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        terminate: bool = True,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> str:
        """Create a flat run with everything it holds, then terminate it with ``status``.

        ``texts`` are top-level artifacts by name (text, or bytes such as PNGs), uploaded
        together in one call; ``curves`` are metrics' histories by step. With ``terminate=False``
        the run stays RUNNING (a tune run, finished by ``finish_tune``). ``start_time`` and
        ``end_time`` (ms since the epoch) copy a run made elsewhere; by default, now.
        """
        from mlflow.entities import Metric, Param
        from mlflow.utils.time import get_current_time_millis

        c = self.client
        run = retrying(c.create_run, self.experiment_id, start_time=start_time, run_name=name, tags=tags)
        run_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        try:
            now = end_time or get_current_time_millis()
            finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
            history = [
                Metric(k, float(v), now, step)
                for k, series in (curves or {}).items()
                for step, v in series.items()
                if np.isfinite(v)
            ]
            retrying(
                c.log_batch,
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in finite.items()] + history,
                params=[Param(k, param_value(v)) for k, v in params.items()],
            )  # the run's name is a tag already: create_run set it
            if texts:
                self._upload(artifact_uri, texts)
            for path, table in (tables or {}).items():
                retrying(c.log_table, run_id, data=table, artifact_file=path)
            if terminate:
                retrying(c.set_terminated, run_id, status=status, end_time=end_time)
        except Exception:  # a half-written run must not look alive (e.g. the disk filled meanwhile)
            with contextlib.suppress(Exception):
                self._mark(run_id, "FAILED", name, "not stored whole: the store refused a write")
            raise
        return run_id

    def _upload(self, artifact_uri: str, files: dict[str, str | bytes]) -> None:
        """Top-level artifacts by name, written to a scratch folder and uploaded in one call, to the
        artifact location the run was created with (``MlflowClient.log_artifacts`` would read the
        whole run back from the store to find it)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        repository = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        with tempfile.TemporaryDirectory(prefix="bench-upload-") as folder:
            for name, content in files.items():
                path = Path(folder, name)
                if isinstance(content, bytes):
                    path.write_bytes(content)
                else:
                    path.write_text(content, encoding="utf-8")
            retrying(repository.log_artifacts, folder)

    def log_cell(self, cell: Cell, outcome: Outcome, sweep_id: str, once: bool = True) -> str | None:
        """A finished cell as one flat run: tags, hyperparameters as used, split sizes, the protocol's
        settings, metrics, per-sample scores and the figures drawn where it ran, then FINISHED.

        With ``once``, a cell another sweep has logged meanwhile (finished, or running in a live
        process) is not logged again: None. The check and the new run share the store's lock."""
        with store_lock(self.uri):
            if once and self._logged_elsewhere(cell.key):
                return None
            return self._log_cell(cell, outcome, sweep_id)

    def _logged_elsewhere(self, key: str) -> bool:
        return any(
            r.status == "FINISHED"
            or (r.status == "RUNNING" and owner.alive(r.tags.get(schema.OWNER, "")) is not False)
            for r in self.runs.cell_records(status=None, cell_key=key)
        )

    def _log_cell(self, cell: Cell, outcome: Outcome, sweep_id: str) -> str:
        result = outcome.result
        # Prefixed: a method may have a hyperparameter of the same name (PyOD's contamination).
        settings = {
            schema.PROTOCOL_PREFIX + k: v for k, v in protocol_settings(cell.protocol, cell.options).items()
        }
        params = {**cell.params, **outcome.sizes, **outcome.data, **settings}
        if result.tuned is not None:
            params.update({schema.TUNED_PREFIX + k: v for k, v in result.tuned.params.items()})
        tags = {
            **cell_tags(cell, sweep_id, outcome.device, result),
            **outcome.provenance,
            schema.OWNER: owner.me(),
        }
        if not result.ok:
            texts = {"error.txt": result.detail or result.error}
            return self.log_run(
                name=f"FAILED · {cell.label}",
                tags=tags,
                params=params,
                metrics={},
                status="FAILED",
                texts=texts,
                start_time=result.began,
                end_time=result.ended,
            )
        return self.log_run(
            name=cell.label,
            tags=tags,
            params=params,
            metrics=result.metrics,
            curves=result.curves,
            texts={"scores.csv": outcome.test.scores_csv(result.scores), **(outcome.figures or {})},
            tables={"open_set_report.json": result.report} if result.report is not None else None,
            start_time=result.began,
            end_time=result.ended,
        )

    def log_sweep(
        self, sweep_id: str, config_json: str, na: tuple[Any, ...], counts: dict[str, float]
    ) -> str:
        """The sweep's own run: its config, its n/a pairs (for leaderboards) and its cell counts; it
        starts when the sweep did (``counts``' wall seconds ago), so its duration is the sweep's."""
        from mlflow.utils.time import get_current_time_millis

        began = get_current_time_millis() - round(1000 * counts.get(schema.WALL_SECONDS, 0.0))
        return self.log_run(
            name=f"sweep {sweep_id}",
            tags={
                schema.KIND: KIND_SWEEP,
                schema.SWEEP_ID: sweep_id,
                schema.NA: json.dumps(
                    [[n.method, n.protocol, n.reason, *([n.dataset] * bool(n.dataset))] for n in na]
                ),
            },
            params={schema.CONFIG: config_json},
            metrics=counts,
            status="FAILED" if counts.get(schema.CELLS_FAILED) else "FINISHED",
            texts={"config.json": config_json},
            start_time=began,
        )

    def finish_tune(
        self, run_id: str, best: dict[str, Any], metrics: dict[str, float], files: dict[str, str]
    ) -> None:
        """Record a study's best result on its tune run and mark it FINISHED (again, after a resume).

        The best parameters go into tags ``best.NAME``: a resumed study may change
        them, and MLflow params cannot change once logged.
        """
        from mlflow.entities import Metric, RunTag
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            tags=[RunTag(f"best.{k}", param_value(v)) for k, v in best.items()],
        )
        for path in files.values():
            self.client.log_artifact(run_id, path)
        self.client.set_terminated(run_id, status="FINISHED")

    def attach(self, run_id: str, files: list[Path], tables: dict[str, pd.DataFrame], folder: str) -> None:
        """Add files (under ``folder``) and MLflow table artifacts to an existing run."""
        for path in files:
            self.client.log_artifact(run_id, str(path), folder)
        for name, table in tables.items():
            self.client.log_table(run_id, data=table, artifact_file=f"{folder}/{name}")

    def show_leaderboard(self, metrics: list[str], description: str | None = None) -> None:
        """The UI's leaderboard view of ``metrics`` and the experiment page's ``description``
        (``bench.tracking.experiment``)."""
        show(self.client, self.experiment_id, metrics, description)

    def close_dead_runs(self) -> int:
        """Mark KILLED the cell runs left RUNNING by sweeps that died (on this host); how many."""
        runs = self.runs.search(f"tags.`{schema.KIND}` = '{KIND_CELL}' and attributes.status = 'RUNNING'")
        dead = [r for r in runs if owner.alive(r.data.tags.get(schema.OWNER, "")) is False]
        for run in dead:
            why = "its sweep died before the run was complete; the cell runs again"
            self._mark(run.info.run_id, "KILLED", run.info.run_name or "", why)
        return len(dead)

    def _mark(self, run_id: str, status: str, name: str, why: str) -> None:
        """End a run as KILLED or FAILED, saying so in its status tag, its error and its name, so
        that no view (the UI's runs table above all) shows it beside its cell's finished run as
        another result."""
        from mlflow.entities import RunTag

        named = name if name.startswith(f"{status} · ") else f"{status} · {name}"
        tags = {schema.STATUS: status, schema.ERROR: why, schema.RUN_NAME: named}
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.set_terminated(run_id, status=status)
