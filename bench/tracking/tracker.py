"""The one place that talks to MLflow: experiments, cell runs, sweep runs, queries.

Only the driver process calls this module. It uses ``MlflowClient`` with
explicit run ids (the fluent ``mlflow.*`` API keeps global state and is not
thread-safe). A cell's run is created when the cell has finished and is
terminated last, so a run left RUNNING by a killed sweep never counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench import schema
from bench.data.protocol import protocol_settings
from bench.errors import BenchError, TrackingError, first_line
from bench.tracking import owner
from bench.tracking.queries import Runs
from bench.tracking.sqlite import (
    prepare_sqlite_store,
    quiet_probe,
    remove_stray_folders,
    retrying,
    sqlite_uri,
    store_lock,
)
from bench.tracking.tables import index_cell_keys
from bench.tracking.tags import KIND_CELL, KIND_SWEEP, cell_tags, param_value

if TYPE_CHECKING:
    from bench.cell import Cell, Outcome


# MLflow's experiment kind: bench's experiments hold model-development runs, not GenAI traces.
EXPERIMENT_KIND, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"


def default_uri(results: Path) -> str:
    return sqlite_uri(results / "mlflow.db")


class Tracker:
    """An MLflow experiment that holds a benchmark's cell runs and sweep runs: the writes here, the
    reads in ``runs`` (``bench.tracking.queries``)."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", module="mlflow")
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.ERROR)  # again: importing MLflow resets it
        # It logs each SQLAlchemy error with its traceback, then raises it: bench says it in one line.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
        self.uri = uri
        self.experiment_name = experiment
        try:
            with store_lock(uri), quiet_probe():  # one process creates and migrates a fresh store
                repaired = prepare_sqlite_store(uri, artifact_root)
                if repaired:
                    print(f"bench: {repaired}", file=sys.stderr)
                index_cell_keys(uri)
                self.client = MlflowClient(tracking_uri=uri)
                exp = self.client.get_experiment_by_name(experiment)
                remove_stray_folders(uri)
                if exp is None:
                    # A local store keeps artifacts beside it; a server keeps them where it was told to
                    # (e.g. --artifacts-destination), so that every client of a shared server sees them.
                    local = not uri.startswith(("http://", "https://", "databricks"))
                    location = artifact_root.resolve().as_uri() if artifact_root and local else None
                    self.experiment_id = self.client.create_experiment(
                        experiment, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_DEVELOPMENT}
                    )
                else:
                    self.experiment_id = exp.experiment_id
                    if EXPERIMENT_KIND not in exp.tags:  # a store from before the tag; a user's choice stays
                        self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND, MODEL_DEVELOPMENT)
        except Exception as exc:
            first = first_line(exc) or type(exc).__name__
            raise TrackingError(f"cannot use MLflow tracking store {uri}: {first[:300]}") from None
        self.runs = Runs(self.client, self.experiment_id, uri)

    @classmethod
    def existing(cls, results: str | Path, tracking_uri: str | None, experiment: str) -> Tracker:
        """``experiment`` of a store that must exist already (a report or an export of nothing is a
        user error, not a new empty store): ``tracking_uri``, or the one under ``results``."""
        results = Path(results)
        if not tracking_uri and not (results / "mlflow.db").is_file():
            raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
        return cls(tracking_uri or default_uri(results), experiment, results / "artifacts")

    def ui_url(self, base: str) -> str:
        """The experiment's runs table in the UI's model-training view, which needs no click."""
        return f"{base}/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"

    # ---- writing -------------------------------------------------------------

    def log_run(
        self,
        *,
        name: str,
        tags: dict[str, str],
        params: dict[str, Any],
        metrics: dict[str, float],
        status: str = "FINISHED",
        texts: dict[str, str | bytes] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        terminate: bool = True,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> str:
        """Create a flat run with everything it holds, then terminate it with ``status``.

        ``texts`` are top-level artifacts by name (text, or bytes such as PNGs), uploaded
        together in one call. With ``terminate=False`` the run stays RUNNING (and so does not
        count as finished) until ``finish_run`` adds its last files. ``start_time`` and
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
            retrying(
                c.log_batch,
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in finite.items()],
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

    def log_cell(
        self, cell: Cell, outcome: Outcome, sweep_id: str, once: bool = True, figures_to_come: bool = False
    ) -> str | None:
        """A finished cell as one flat run: tags, hyperparameters as used, split sizes, the protocol's
        settings, metrics, per-sample scores and the figures its worker drew, then FINISHED. With
        ``figures_to_come`` (a cell run in the sweep's process, its figures drawn after) the run stays
        RUNNING until they are attached (``finish_run``), so a sweep killed in between does not
        count it as done.

        With ``once``, a cell another sweep has logged meanwhile (finished, or running in a live
        process) is not logged again: None. The check and the new run share the store's lock."""
        with store_lock(self.uri):
            if once and self._logged_elsewhere(cell.key):
                return None
            return self._log_cell(cell, outcome, sweep_id, figures_to_come)

    def _logged_elsewhere(self, key: str) -> bool:
        return any(
            r.status == "FINISHED"
            or (r.status == "RUNNING" and owner.alive(r.tags.get(schema.OWNER, "")) is not False)
            for r in self.runs.cell_records(status=None, cell_key=key)
        )

    def _log_cell(self, cell: Cell, outcome: Outcome, sweep_id: str, figures_to_come: bool) -> str:
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
            )
        return self.log_run(
            name=cell.label,
            tags=tags,
            params=params,
            metrics=result.metrics,
            terminate=not figures_to_come,
            texts={"scores.csv": outcome.test.scores_csv(result.scores), **(outcome.figures or {})},
            tables={"open_set_report.json": result.report} if result.report is not None else None,
        )

    def log_sweep(
        self, sweep_id: str, config_json: str, na: tuple[Any, ...], counts: dict[str, float]
    ) -> str:
        """The sweep's own run: its config, its n/a pairs (for leaderboards) and its cell counts."""
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
            status="FAILED" if counts.get("cells_failed") else "FINISHED",
            texts={"config.json": config_json},
        )

    def finish_run(self, run_id: str, files: dict[str, str], status: str = "FINISHED") -> None:
        """Upload local files as top-level artifacts, then terminate the run."""
        for path in files.values():
            retrying(self.client.log_artifact, run_id, path)
        retrying(self.client.set_terminated, run_id, status=status)

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
        tags = {schema.STATUS: status, schema.ERROR: why, "mlflow.runName": named}
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.set_terminated(run_id, status=status)
