"""A results disk that fills mid-sweep stops the sweep in one line, keeps the cells logged, and resumes."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

from bench.config import RunConfig
from bench.errors import BenchError
from bench.sweep.driver import run_sweep
from bench.tracking.tracker import Tracker, default_uri


def no_space() -> Exception:
    return OSError(errno.ENOSPC, "No space left on device")


def store_full() -> Exception:
    """What MLflow raised on a 6 MB filesystem: the cause only in the chain."""
    try:
        raise sqlite3.OperationalError("database or disk is full")
    except sqlite3.OperationalError as cause:
        try:
            raise MlflowException(
                "(raised as a result of Query-invoked autoflush; consider using ...)"
            ) from cause
        except MlflowException as exc:
            return exc


@pytest.mark.parametrize("full", [no_space, store_full], ids=["ENOSPC", "sqlite full"])
def test_a_full_disk_stops_the_sweep_in_one_line_keeps_what_was_logged_and_a_rerun_resumes(
    tmp_path, monkeypatch, full
):
    cfg = RunConfig(methods=("pyod-pca",), classes=(0, 1, 2, 3), jobs=1, results=str(tmp_path / "out"))
    real_upload, writes = LocalArtifactRepository.log_artifacts, []

    def fills_after_two(self, local_dir, artifact_path=None):  # the third cell's files find the disk full
        writes.append(local_dir)
        if len(writes) > 2:
            raise full()
        return real_upload(self, local_dir, artifact_path)

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", fills_after_two)
    with pytest.raises(BenchError) as stopped:
        run_sweep(cfg)
    assert str(stopped.value) == (
        f"the disk that holds {tmp_path / 'out'} is full (2 cells logged by this sweep): free space there "
        "and rerun the same command, which runs only what is left"
    )
    assert len(writes) == 3, "the sweep stopped at the first cell it could not log"
    tracker = Tracker(default_uri(tmp_path / "out"), "bench")
    kept = tracker.runs.finished_cell_keys()
    assert len(kept) == 2, "the cells logged before the disk filled are kept"

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", real_upload)  # space freed
    again = run_sweep(cfg)
    assert again.exit_code == 0 and again.skipped == 2 and len(again.ok) == 2
    assert len(tracker.runs.finished_cell_keys()) == 4 and kept <= tracker.runs.finished_cell_keys()
    assert not tracker.runs.cell_table("RUNNING").shape[0], "no half-written run looks alive"
