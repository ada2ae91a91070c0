"""A results disk that fills mid-sweep fails the cells it cannot log, keeps the ones logged, and resumes."""

from __future__ import annotations

import errno

from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

from bench.config import RunConfig
from bench.sweep.driver import run_sweep
from bench.tracking.tracker import Tracker, default_uri


def test_a_full_disk_fails_cells_keeps_the_rest_and_a_rerun_resumes(tmp_path, monkeypatch):
    cfg = RunConfig(methods=("pyod-pca",), classes=(0, 1, 2, 3), jobs=1, results=str(tmp_path / "out"))
    real_upload, writes = LocalArtifactRepository.log_artifacts, []

    def fills_after_two(self, local_dir, artifact_path=None):  # the third cell's files find the disk full
        writes.append(local_dir)
        if len(writes) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_upload(self, local_dir, artifact_path)

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", fills_after_two)
    first = run_sweep(cfg)
    assert first.exit_code == 1 and len(first.ok) == 2
    assert [reason for _, reason in first.failed] == [
        "not logged: OSError: [Errno 28] No space left on device"
    ] * 2
    tracker = Tracker(default_uri(tmp_path / "out"), "bench")
    kept = tracker.finished_cell_keys()
    assert len(kept) == 2, "the cells logged before the disk filled are kept"

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", real_upload)  # space freed
    again = run_sweep(cfg)
    assert again.exit_code == 0 and again.skipped == 2 and len(again.ok) == 2
    assert len(tracker.finished_cell_keys()) == 4 and kept <= tracker.finished_cell_keys()
    assert not tracker.cell_table("RUNNING").shape[0], "no half-written run looks alive"
