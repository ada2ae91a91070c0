"""An experiment of a store, as bench opens it and as the MLflow UI shows it.

Opened for writing (made where missing, by ``Tracker``) or found for reading (never made: ``bench
ui``); the link bench prints, the leaderboard view that link opens (a view saved the way the UI's
"Share" button saves one: an experiment tag the runs page loads from ``?viewStateShareKey=``) and
the description on the experiment's page (MLflow renders it as markdown). All of it is written
through MLflow's client.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from bench import schema
from bench.errors import BenchError, TrackingError, first_line
from bench.tracking.sqlite import prepare_sqlite_store, quiet_probe, remove_stray_folders, store_lock
from bench.tracking.tables import index_cell_keys
from bench.tracking.tags import KIND_CELL

LEADERBOARD_VIEW = "bench-leaderboard"  # the share key of the view bench saves on each experiment
MAX_DESCRIPTION = 20_000  # MLflow's longest experiment tag value
GROUPS = (schema.METHOD_LABEL, schema.DATASET, schema.PROTOCOL)  # a group of cell runs: a leaderboard row
SHOWN_TAGS = (*GROUPS, schema.CLASS, schema.SEED)


def quiet_mlflow() -> None:
    """MLflow without its progress bars, migration chatter and tracebacks logged before it raises
    (bench says a store's error in one line)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    import mlflow  # noqa: F401  (importing MLflow resets its loggers' levels)

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


def open_experiment(uri: str, name: str, artifact_root: Path | None) -> tuple[Any, str]:
    """A client of the store at ``uri`` (made and migrated where it is new, by one process) and the
    id of its experiment ``name``, made where missing; a store bench cannot use is one line."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    try:
        with store_lock(uri), quiet_probe():
            repaired = prepare_sqlite_store(uri, artifact_root)
            if repaired:
                print(f"bench: {repaired}", file=sys.stderr)
            index_cell_keys(uri)
            client = MlflowClient(tracking_uri=uri)
            exp = client.get_experiment_by_name(name)
            remove_stray_folders(uri)
            if exp is not None:
                if (
                    schema.EXPERIMENT_KIND not in exp.tags
                ):  # a store from before the tag; a user's choice stays
                    client.set_experiment_tag(
                        exp.experiment_id, schema.EXPERIMENT_KIND, schema.MODEL_TRAINING
                    )
                return client, exp.experiment_id
            # A local store keeps artifacts beside it; a server keeps them where it was told to (e.g.
            # --artifacts-destination), so that every client of a shared server sees them.
            local = not uri.startswith(("http://", "https://", "databricks"))
            location = artifact_root.resolve().as_uri() if artifact_root and local else None
            tags = {schema.EXPERIMENT_KIND: schema.MODEL_TRAINING}
            return client, client.create_experiment(name, artifact_location=location, tags=tags)
    except Exception as exc:
        first = first_line(exc) or type(exc).__name__
        raise TrackingError(f"cannot use MLflow tracking store {uri}: {first[:300]}") from None


def experiment_to_show(uri: str, name: str | None) -> str:
    """The experiment ``bench ui`` opens: ``name``, else the one whose cell run is newest; never
    made. A store without cell runs, or without ``name``, is one line."""
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        experiments = {e.name: e.experiment_id for e in client.search_experiments()}
        ids = list(experiments.values())
        kind = f"tags.`{schema.KIND}` = '{KIND_CELL}'"
        newest = client.search_runs(ids, kind, max_results=1, order_by=["attributes.start_time DESC"])
    except Exception as exc:
        raise TrackingError(f"cannot read MLflow tracking store {uri}: {first_line(exc)[:300]}") from None
    if name is not None:
        if name not in experiments:
            raise BenchError(f"no experiment {name!r} in {uri} (it has: {', '.join(sorted(experiments))})")
        return name
    if not newest:
        raise BenchError(f"no cell runs in {uri} yet: run `python -m bench run` (or `bench import`) first")
    by_id = {i: n for n, i in experiments.items()}
    return by_id[newest[0].info.experiment_id]


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table, opened on bench's leaderboard view, in the model-training view."""
    return f"{base}/{runs_link(experiment_id)}"


def runs_link(experiment_id: str) -> str:
    """``runs_url`` relative to the UI's page (a link in a description)."""
    view = f"viewStateShareKey={LEADERBOARD_VIEW}&workflowType=machine_learning"
    return f"#/experiments/{experiment_id}/runs?{view}"


def artifact_url(experiment_id: str, run_id: str, path: str) -> str:
    """A run's artifact as the UI shows it (a link relative to the UI's page)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}"


def leaderboard_view(metrics: list[str]) -> dict[str, Any]:
    """The runs page as a leaderboard: cell runs only, grouped into leaderboard rows (method,
    dataset, protocol) with each group's mean, ``metrics`` shown and the first sorted descending."""
    columns = [f"metrics.`{m}`" for m in metrics] + [f"tags.`{t}`" for t in SHOWN_TAGS]
    name = "attributes.`Run Name`"  # the ids of the runs table's columns (ag-grid's colId)
    return {
        "searchFilter": f"tags.`{schema.KIND}` = '{KIND_CELL}'",
        "orderByKey": columns[0],
        "orderByAsc": False,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "selectedColumns": columns,
        "columnOrder": [name, *columns[: len(metrics)], "duration"],  # the metrics in their given order
        "columnWidths": {name: 400},  # wide enough for a group's name: its method, dataset, protocol
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": tag} for tag in GROUPS],
        },
    }


def show(client: Any, experiment_id: str, metrics: list[str], description: str | None = None) -> None:
    """Save the leaderboard view of ``metrics`` on the experiment (and ``description``, markdown that
    is cut short of MLflow's limit with a line saying so)."""
    view = json.dumps(leaderboard_view(metrics))
    client.set_experiment_tag(experiment_id, schema.SHARED_VIEW_PREFIX + LEADERBOARD_VIEW, view)
    if description is not None:
        if len(description) > MAX_DESCRIPTION:
            cut = description[: MAX_DESCRIPTION - 200].rsplit("\n", 1)[0]
            description = cut + "\n\n(cut short: the whole table is in leaderboard.md)\n"
        client.set_experiment_tag(experiment_id, schema.DESCRIPTION, description)
