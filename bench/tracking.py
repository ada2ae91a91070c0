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
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench import owner
from bench.errors import TrackingError, first_line
from bench.protocols import protocol_settings
from bench.store import quiet_probe, retrying, store_lock
from bench.tags import KIND_CELL, KIND_SWEEP, KIND_TRIAL, cell_tags, param_value

if TYPE_CHECKING:
    from bench.cell import Cell
    from bench.execute import Outcome


# MLflow's experiment kind: bench's experiments hold model-development runs, not GenAI traces.
EXPERIMENT_KIND, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"


def default_uri(results: Path) -> str:
    return f"sqlite:///{(results / 'mlflow.db').resolve()}"


class Tracker:
    """An MLflow experiment that holds a benchmark's cell runs and sweep runs."""

    def __init__(self, uri: str, experiment: str, artifact_root: Path | None = None) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", module="mlflow")
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.ERROR)  # again: importing MLflow resets it
        self.uri = uri
        self.experiment_name = experiment
        try:
            with store_lock(uri), quiet_probe():  # one process creates and migrates a fresh store
                self.client = MlflowClient(tracking_uri=uri)
                exp = self.client.get_experiment_by_name(experiment)
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
        texts: dict[str, str] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        terminate: bool = True,
    ) -> str:
        """Create a flat run with everything it holds, then terminate it with ``status``.

        With ``terminate=False`` the run stays RUNNING (and so does not count as
        finished) until ``finish_run`` adds its last files.
        """
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.time import get_current_time_millis

        c = self.client
        run_id = retrying(c.create_run, self.experiment_id, run_name=name, tags=tags).info.run_id
        try:
            now = get_current_time_millis()
            finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
            retrying(
                c.log_batch,
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in finite.items()],
                params=[Param(k, param_value(v)) for k, v in params.items()],
                tags=[RunTag("mlflow.runName", name)],
            )
            for path, text in (texts or {}).items():
                retrying(c.log_text, run_id, text, path)
            for path, table in (tables or {}).items():
                retrying(c.log_table, run_id, data=table, artifact_file=path)
            if terminate:
                retrying(c.set_terminated, run_id, status=status)
        except Exception:  # a half-written run must not look alive (e.g. the disk filled meanwhile)
            with contextlib.suppress(Exception):
                c.set_terminated(run_id, status="FAILED")
            raise
        return run_id

    def log_cell(self, cell: Cell, outcome: Outcome, sweep_id: str, once: bool = True) -> str | None:
        """A finished cell as one flat run: tags, hyperparameters as used, split sizes, the protocol's
        settings, metrics, per-sample scores. A cell that succeeded stays RUNNING until its figures
        are attached (``finish_run``), so a sweep killed in between does not count it as done.

        With ``once``, a cell another sweep has logged meanwhile (finished, or running in a live
        process) is not logged again: None. The check and the new run share the store's lock."""
        with store_lock(self.uri):
            if once and self._logged_elsewhere(cell.key):
                return None
            return self._log_cell(cell, outcome, sweep_id)

    def _logged_elsewhere(self, key: str) -> bool:
        runs = self._runs(f"tags.`bench.kind` = '{KIND_CELL}' and tags.cell_key = '{key}'")
        return any(
            r.info.status == "FINISHED"
            or (r.info.status == "RUNNING" and owner.alive(r.data.tags.get("bench.owner", "")) is not False)
            for r in runs
        )

    def _log_cell(self, cell: Cell, outcome: Outcome, sweep_id: str) -> str:
        result = outcome.result
        # Prefixed: a method may have a hyperparameter of the same name (PyOD's contamination).
        settings = {f"protocol.{k}": v for k, v in protocol_settings(cell.protocol, cell.options).items()}
        params = {**cell.params, **outcome.sizes, **outcome.data, **settings}
        if result.tuned is not None:
            params.update({f"tuned.{k}": v for k, v in result.tuned.params.items()})
        tags = {**cell_tags(cell, sweep_id, outcome.device, result), "bench.owner": owner.me()}
        if not result.ok:
            texts = {"error.txt": result.detail or result.error}
            return self.log_run(
                name=cell.label, tags=tags, params=params, metrics={}, status="FAILED", texts=texts
            )
        return self.log_run(
            name=cell.label,
            tags=tags,
            params=params,
            metrics=result.metrics,
            terminate=False,
            texts={"scores.csv": outcome.test.scores_csv(result.scores)},
            tables={"open_set_report.json": result.report} if result.report is not None else None,
        )

    def log_sweep(
        self, sweep_id: str, config_json: str, na: tuple[Any, ...], counts: dict[str, float]
    ) -> str:
        """The sweep's own run: its config, its n/a pairs (for leaderboards) and its cell counts."""
        return self.log_run(
            name=f"sweep {sweep_id}",
            tags={
                "bench.kind": KIND_SWEEP,
                "sweep_id": sweep_id,
                "bench.na": json.dumps(
                    [[n.method, n.protocol, n.reason, *([n.dataset] * bool(n.dataset))] for n in na]
                ),
            },
            params={"config": config_json},
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

    # ---- reading -------------------------------------------------------------

    def find_run(self, kind: str, tag: str | None = None, value: str = "") -> str | None:
        """The newest run of ``kind`` (whose ``tag`` equals ``value``, if given), if any."""
        query = f"tags.`bench.kind` = '{kind}'" + (f" and tags.`{tag}` = '{value}'" if tag else "")
        runs = self._runs(query)
        return max(runs, key=lambda r: r.info.start_time).info.run_id if runs else None

    def trial_numbers(self, study: str) -> set[int]:
        """The trial numbers of ``study`` that already have a run."""
        runs = self._runs(f"tags.`bench.kind` = '{KIND_TRIAL}' and tags.`bench.study` = '{study}'")
        return {int(r.data.tags["trial"]) for r in runs if "trial" in r.data.tags}

    def cell_scores(self, run_id: str, scratch: Path) -> pd.DataFrame:
        """The ``scores.csv`` a cell run logged (index, source, anomaly, class, score)."""
        path = self.client.download_artifacts(run_id, "scores.csv", str(scratch))
        return pd.read_csv(path)

    def attach(self, run_id: str, files: list[Path], tables: dict[str, pd.DataFrame], folder: str) -> None:
        """Add files (under ``folder``) and MLflow table artifacts to an existing run."""
        for path in files:
            self.client.log_artifact(run_id, str(path), folder)
        for name, table in tables.items():
            self.client.log_table(run_id, data=table, artifact_file=f"{folder}/{name}")

    def _runs(self, filter_string: str) -> list[Any]:
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

    def close_dead_runs(self) -> int:
        """Mark KILLED the cell runs left RUNNING by sweeps that died (on this host); how many."""
        runs = self._runs(f"tags.`bench.kind` = '{KIND_CELL}' and attributes.status = 'RUNNING'")
        dead = [r for r in runs if owner.alive(r.data.tags.get("bench.owner", "")) is False]
        for run in dead:
            self.client.set_terminated(run.info.run_id, status="KILLED")
        return len(dead)

    def experiment_names(self) -> list[str]:
        """Every experiment in this store (a leaderboard reads one; published figures read all)."""
        return sorted(e.name for e in self.client.search_experiments())

    def finished_cell_keys(self) -> set[str]:
        runs = self._runs(f"tags.`bench.kind` = '{KIND_CELL}' and attributes.status = 'FINISHED'")
        return {r.data.tags["cell_key"] for r in runs if "cell_key" in r.data.tags}

    def cell_table(self, status: str = "FINISHED") -> pd.DataFrame:
        """Every cell run of ``status``: tags and metrics as columns, newest first."""
        runs = self._runs(f"tags.`bench.kind` = '{KIND_CELL}' and attributes.status = '{status}'")
        rows = [
            {
                "run_id": r.info.run_id,
                "start_time": r.info.start_time,
                **r.data.tags,
                **r.data.metrics,
            }
            for r in runs
        ]
        df = pd.DataFrame(rows)
        return df.sort_values("start_time", ascending=False) if len(df) else df

    def sweep_notes(self) -> list[dict[str, str]]:
        """The n/a entries recorded by every sweep of this experiment."""
        notes = []
        for run in self._runs(f"tags.`bench.kind` = '{KIND_SWEEP}'"):
            raw = run.data.tags.get("bench.na")
            if raw:
                notes += json.loads(raw)
        return notes
