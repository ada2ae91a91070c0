"""Never a stale or lost number: cells keyed by their data, a store an interrupt cannot break, runs
that did not finish told apart from those that did, results folders with any name."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console

from bench.cli.main import main
from bench.config import RunConfig
from bench.errors import TrackingError
from bench.report.board import publish
from bench.sweep.driver import run_sweep
from bench.tracking import owner
from bench.tracking.tracker import Tracker, default_uri
from tests.conftest import ROOT, ctrl_c_as_at_a_terminal


def two_classes(path: Path, seed: int, separable: bool) -> str:
    """An npz of 80 8x8 images in two classes: class 1 much darker, or drawn like class 0."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (80, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1], 40)
    if separable:
        x[y == 1] //= 4
    np.savez(path, x=x, y=y)
    return f"npz:{path}"


def sweep(cfg: RunConfig):
    console = Console(record=True, width=200)
    return run_sweep(cfg, console), console.export_text()


def test_changed_data_makes_new_cells_and_the_leaderboard_keeps_the_old_apart(tmp_path):
    data = two_classes(tmp_path / "mine.npz", seed=0, separable=True)
    cfg = RunConfig(methods=("pyod-pca",), datasets=(data,), results=str(tmp_path / "out"))
    first, _ = sweep(cfg)
    assert len(first.ok) == 2 and all(m["auroc"] == 1.0 for _, m in first.ok)

    two_classes(tmp_path / "mine.npz", seed=1, separable=False)  # the user edits their file
    second, said = sweep(cfg)
    assert second.skipped == 0 and len(second.ok) == 2, "new data, new cells: nothing 'already done'"
    assert f"note: 2 finished runs in this experiment read other files of {data} (they changed)" in said
    new = sorted(m["auroc"] for _, m in second.ok)
    assert max(new) < 0.9

    tracker = Tracker(default_uri(tmp_path / "out"), "bench")
    board = publish(tracker, tmp_path / "out", roc_curves=False)[0].board
    assert board["cells"].tolist() == [2], "only the current copy's cells"
    assert board["auroc_mean"].iloc[0] == pytest.approx(np.mean(new))
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert md.count(f"kept apart and not shown: 2 of {data} read files that have changed since.") == 1
    assert len(tracker.runs.finished_cell_keys()) == 4, "the old cells stay in the store"

    third, said = sweep(cfg)
    assert third.skipped == 2 and not third.ok, "unchanged data: the same cells, done"
    assert "differ" not in said


def test_a_study_does_not_resume_on_changed_data(tmp_path):
    """Tuning is keyed by the data too: a study's trials never mix two copies of a dataset."""
    from bench.config import TuneConfig
    from bench.errors import BenchError
    from bench.tuning.search import run_tune

    data = two_classes(tmp_path / "mine.npz", seed=0, separable=True)
    cfg = TuneConfig(method="pyod-knn", datasets=(data,), trials=1, results=str(tmp_path / "out"))
    quiet = Console(file=io.StringIO())
    assert run_tune(cfg, quiet).trials == 1
    two_classes(tmp_path / "mine.npz", seed=1, separable=False)
    with pytest.raises(BenchError, match=r"ran on another copy of npz:.* \(its files changed since\)"):
        run_tune(dataclasses.replace(cfg, trials=2), quiet)


def test_a_new_store_interrupted_while_its_tables_are_made_is_whole_at_the_next_start(tmp_path, bench_main):
    """kill -9 while MLflow makes the empty store bench keeps in its cache, Ctrl-C while it makes a
    store in place (a cache that cannot be written): the next command just works."""
    args = [sys.executable, "-m", "bench", "run", "--methods", "pyod-pca", "--classes", "0"]
    args += ["--results", "out"]
    out, cache, no_cache = tmp_path / "out", tmp_path / "cache", tmp_path / "not-a-folder"
    no_cache.write_text("a file where the cache would be")
    for sig, bench_cache, made_in in (
        (signal.SIGKILL, cache, cache / "stores"),
        (signal.SIGINT, no_cache, out),
    ):
        proc = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "BENCH_CACHE": str(bench_cache)}, preexec_fn=ctrl_c_as_at_a_terminal,
        )  # fmt: skip
        deadline = time.time() + 120
        while not list(made_in.glob(f".*.db.{proc.pid}.new")):  # the store being made, in its own file
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert proc.returncode in (-9, 130), (sig, proc.returncode)
        assert not (out / "mlflow.db").exists(), "the store is whole or absent, never half-made"
        assert not list(cache.glob("stores/*.db")), "the cached empty store likewise"
    res = bench_main(*args[3:], env={"BENCH_CACHE": str(cache)})  # in this process: whole stores, made anew
    assert res.returncode == 0, res.stderr
    assert "1 cells ok, 0 failed" in res.stdout
    assert sorted(p.name for p in out.glob("*mlflow.db*")) == ["mlflow.db", "mlflow.db.lock"]
    (template,) = cache.glob("stores/*.db")
    assert sorted(p.name for p in template.parent.iterdir()) == [template.name, f"{template.name}.lock"]


def test_a_store_copied_from_the_cached_template_is_the_store_mlflow_makes(
    tmp_path, monkeypatch, shared_cache
):
    """The same tables, columns, indexes, schema version and Default experiment as a store MLflow
    migrates itself, with this store's own artifact location; made with MLflow's migrations cut off."""
    from bench.tracking import sqlite as stores

    def schema(path: Path) -> dict:
        with closing(sqlite3.connect(path)) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            # (the order MLflow's own migrations leave indexes and constraints in varies run to run)
            index = {t: sorted(r[1:] for r in db.execute(f"PRAGMA index_list('{t}')")) for t in tables}
            return {
                "columns": {t: db.execute(f"PRAGMA table_info('{t}')").fetchall() for t in tables},
                "indexes": index,
                "version": db.execute("SELECT * FROM alembic_version").fetchall(),
                "experiments": db.execute(
                    "SELECT experiment_id, name, artifact_location FROM experiments"
                ).fetchall(),
            }

    def made_in(folder: Path) -> dict:
        folder.mkdir()
        stores.prepare_sqlite_store(stores.sqlite_uri(folder / "mlflow.db"))
        assert [p.name for p in folder.iterdir()] == ["mlflow.db"], "nothing MLflow would not make"
        return schema(folder / "mlflow.db")

    (tmp_path / "mlflow").mkdir()
    stores._migrate_new(tmp_path / "mlflow" / "mlflow.db", tmp_path / "mlflow" / "artifacts")
    expected = schema(tmp_path / "mlflow" / "mlflow.db")
    found = made_in(tmp_path / "first")
    monkeypatch.setattr(stores, "_migrate_new", lambda *a: pytest.fail("MLflow's migrations ran again"))
    again = made_in(tmp_path / "second")
    for folder, store in (("first", found), ("second", again)):
        location = f"{(tmp_path / folder / 'artifacts').as_uri()}/0"
        assert store == {**expected, "experiments": [(0, "Default", location)]}
    assert expected["experiments"] == [(0, "Default", f"{(tmp_path / 'mlflow' / 'artifacts').as_uri()}/0")]
    (template,) = shared_cache.glob("stores/mlflow-*.db")

    template.write_bytes(template.read_bytes()[:4096])  # a damaged template: MLflow makes the store
    monkeypatch.undo()
    assert made_in(tmp_path / "third") == {
        **expected,
        "experiments": [(0, "Default", location.replace("second", "third"))],
    }
    assert not template.exists(), "and the damaged template is gone, to be made again by the next store"


def test_a_half_made_store_is_moved_aside_and_made_anew_saying_so(tmp_path, capsys):
    """A store an older bench left half-made (some tables, no runs) is repaired; one that is not
    SQLite at all is not bench's to move: one line, and it stays."""
    store = tmp_path / "mlflow.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY, name VARCHAR(256))")
    tracker = Tracker(default_uri(tmp_path), "bench")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bench: note: {store} was left half-made by an interrupted")
    assert tracker.runs.experiment_names() == ["Default", "bench"]
    assert len(list(tmp_path.glob("mlflow.db.broken-*"))) == 1

    garbage = tmp_path / "other" / "mlflow.db"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a database, but maybe someone's file" * 100)
    with pytest.raises(TrackingError, match="cannot use MLflow tracking store"):
        Tracker(default_uri(garbage.parent), "bench")
    assert garbage.read_bytes().startswith(b"not a database") and not list(garbage.parent.glob("*broken*"))


def test_runs_of_a_dead_sweep_are_marked_killed_everywhere(tmp_path):
    """A cell run a killed sweep left RUNNING: KILLED in its status, its status tag and its name."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    start = owner.started(dead.pid)
    dead.wait()
    tracker = Tracker(default_uri(tmp_path), "bench")
    host = owner.me().split(":")[0]
    tags = {
        "bench.kind": "cell",
        "bench.status": "OK",
        "cell_key": "k",
        "bench.tracking.owner": f"{host}:{dead.pid}:{start}",
    }
    name = "m | d | p | class 0 | seed 0"
    run_id = tracker.log_run(name=name, tags=tags, params={}, metrics={}, terminate=False)
    assert tracker.close_dead_runs() == 1
    run = tracker.client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["bench.status"] == "KILLED"
    assert run.info.run_name == f"KILLED · {name}"
    assert "sweep died" in run.data.tags["bench.error"]
    assert tracker.close_dead_runs() == 0 and "k" not in tracker.runs.finished_cell_keys()


def test_a_results_folder_with_question_marks_percents_and_hashes_holds_its_own_store(tmp_path):
    """``?``, ``%`` and ``#`` in --results stay in the folder's name (no store beside it), and a comma
    inside an existing ``folder:`` dataset's path is part of the path."""
    images = tmp_path / "im,gs"
    for label, scale in (("a", 1), ("b", 4)):
        (images / label).mkdir(parents=True)
        rng = np.random.default_rng(len(label))
        for i in range(40):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8) // scale
            Image.fromarray(pixels).save(images / label / f"{i}.png")
    results = tmp_path / "odd?name%20#x"
    argv = ["run", "--methods", "pyod-pca", "--datasets", f"folder:{images},digits", "--classes", "0"]
    assert main([*argv, "--results", str(results)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["im,gs", "odd?name%20#x"], "nothing beside it"
    tracker = Tracker(default_uri(results), "bench")
    assert sorted(tracker.runs.cell_table()["dataset"]) == ["digits", f"folder:{images}"]
    assert main(["leaderboard", "--results", str(results), "--no-roc"]) == 0
    assert (results / "leaderboard.md").is_file()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="PYTHONSAFEPATH is Python 3.11's")
def test_python_m_bench_beside_a_clone_named_bench_says_so_and_runs(tmp_path):
    """From the folder that holds a clone named ``bench``, Python imports the clone's top folder
    first: bench says so in one line and runs the installed package, plugins and workers included."""
    clone = tmp_path / "bench"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in files:
        if name.startswith(("bench/", "__main__.py", "pyproject.toml")):
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes((ROOT / name).read_bytes())
    plugin = ROOT / "tests" / "plugins" / "check_methods.py"  # `from bench.api import Method`
    args = [sys.executable, "-m", "bench", "--plugin", str(plugin), "run", "--methods", "check-good"]
    res = subprocess.run(
        [*args, "--classes", "0", "--results", "out"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "BENCH_CACHE": str(tmp_path / "cache")}, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[0].startswith(f"bench: note: the folder {clone} here shadows")
    assert "1 cells ok, 0 failed" in res.stdout


def test_cells_from_before_data_digests_are_kept_apart_once_the_data_is_keyed():
    """A store from an earlier bench (cells without a digest), rerun now: only the keyed cells show."""
    import pandas as pd

    from bench.report.by_class import current_copies, latest_per_cell, older_copies_note

    old = [{"cell_key": f"o{k}", "dataset": "digits", "start_time": k, "auroc": 0.5} for k in range(2)]
    new = [
        {"cell_key": f"n{k}", "dataset": "digits", "start_time": 10 + k, "auroc": 0.9, "data_digest": "abc"}
        for k in range(2)
    ]
    cells = pd.DataFrame(old + new)
    current = current_copies(cells)
    assert current == {"digits": "abc"}
    assert sorted(latest_per_cell(cells, current)["cell_key"]) == ["n0", "n1"]
    assert older_copies_note(cells, current) == (
        "This experiment also holds cells kept apart and not shown: 2 of digits predate data digests "
        "(run by an earlier bench)."
    )
    assert latest_per_cell(pd.DataFrame(old))["auroc"].tolist() == [0.5, 0.5], "alone, they still show"


def test_an_optuna_store_is_made_whole_or_not_at_all(tmp_path):
    """The same temporary-file creation serves Optuna's store: interrupted (injected after its first
    table), no optuna.db is left; the next start makes a whole one that a study opens."""
    import optuna

    from bench.tracking.sqlite import create_whole, sqlite_uri
    from bench.tuning.study import storage

    uri = sqlite_uri(tmp_path / "optuna.db")

    def interrupted(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY)")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_whole(uri, interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no half-made store, no temporary file"
    study = optuna.create_study(storage=storage(uri), study_name="s", direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=uri).trials) == 2


KILLED_WHILE_LOGGING = """
import os, signal, sys
from pathlib import Path
from bench.config import RunConfig
from bench.sweep.job import Job, execute, with_figures
from bench.sweep.plan import plan
from bench.tracking.tracker import Tracker, default_uri

results = Path(sys.argv[1])
swept = plan(RunConfig(methods=("pyod-hbos",), classes=(0,), results=str(results)))
cell = swept.cells[0]
job = Job(0, cell, "cpu")
outcome = with_figures(execute(job, swept.datasets), job)  # as a worker returns it
tracker = Tracker(default_uri(results), "bench", results / "artifacts")
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
LocalArtifactRepository.log_artifacts = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
tracker.log_cell(cell, outcome, "killed-sweep")  # dies with its tags, params and metrics written
"""


def test_a_sweep_killed_while_it_logs_a_cell_loses_and_duplicates_nothing(tmp_path):
    """SIGKILL between a cell run's metrics and its files (scores and figures, one upload): the run
    never counts as finished; the next sweep marks it KILLED and runs the cell once."""
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", KILLED_WHILE_LOGGING, str(out)], capture_output=True)
    assert dead.returncode == -signal.SIGKILL, dead.stderr.decode()[-2000:]
    tracker = Tracker(default_uri(out), "bench")
    (half,) = tracker.runs.runs_of_kind("cell")
    assert half.info.status == "RUNNING" and "auroc" in half.data.metrics, "killed mid-log, for real"
    assert not tracker.runs.finished_cell_keys()
    report, text = sweep(RunConfig(methods=("pyod-hbos",), classes=(0,), results=str(out)))
    assert len(report.ok) == 1 and report.skipped == 0, text
    runs = {r.info.status: r for r in tracker.runs.runs_of_kind("cell")}
    assert sorted(runs) == ["FINISHED", "KILLED"]
    names = {f.path for f in tracker.client.list_artifacts(runs["FINISHED"].info.run_id)}
    assert {"roc.svg", "score_histogram.svg", "scores.csv"} <= names
    assert runs["FINISHED"].data.tags["cell_key"] == half.data.tags["cell_key"]


def test_cell_runs_read_from_the_store_s_tables_are_mlflow_s_own_search(tmp_path, monkeypatch):
    """The fast read of a local store (its tables, read-only) gives what MLflow's search gives: the
    active cell runs of the experiment and status asked, their tags and latest metrics, NaN kept."""
    from bench.tracking import queries

    tracker = Tracker(default_uri(tmp_path), "bench")
    other = Tracker(default_uri(tmp_path), "elsewhere")

    def cell(tr, key, status="FINISHED", kind="cell", **metrics):
        tags = {"bench.kind": kind, "cell_key": key, "dataset": "d", "data_digest": f"sha-{key}"}
        return tr.log_run(name=key, tags=tags, params={"p": 1}, metrics=metrics, status=status)

    kept = cell(tracker, "a", auroc=0.9, fit_seconds=1.5)
    tracker.client.log_metric(kept, "auroc", 0.95, step=1)  # the latest value is the one read
    tracker.client.log_metric(kept, "f1", float("nan"))
    cell(tracker, "b", status="FAILED")
    tracker.client.delete_run(cell(tracker, "c", auroc=0.5))  # deleted: found by neither
    cell(tracker, "d", kind="sweep")
    cell(other, "e", auroc=0.7)
    fast = {s: tracker.runs.cell_table(s) for s in ("FINISHED", "FAILED")}
    assert fast["FINISHED"]["cell_key"].tolist() == ["a"] and fast["FAILED"]["cell_key"].tolist() == ["b"]
    assert fast["FINISHED"]["auroc"].item() == 0.95 and np.isnan(fast["FINISHED"]["f1"].item())
    assert tracker.runs.finished_cells() == {"a": ("d", "sha-a")}
    by_key = lambda: {(r.run_id, r.status) for r in tracker.runs.cell_records(None, "b")}  # noqa: E731
    fast_b = by_key()
    assert [status for _, status in fast_b] == ["FAILED"]
    params = lambda: {r.run_id: r.params for r in tracker.runs.cell_records(None, params=True)}  # noqa: E731
    fast_params = params()
    assert fast_params[kept] == {"p": "1"}
    monkeypatch.setattr(queries, "read_runs", lambda *args: None)  # MLflow's own search instead
    for status, table in fast.items():
        slow = tracker.runs.cell_table(status)
        pd.testing.assert_frame_equal(table[sorted(table.columns)], slow[sorted(slow.columns)])
    assert tracker.runs.finished_cells() == {"a": ("d", "sha-a")} and by_key() == fast_b
    assert params() == fast_params


def test_a_cell_s_runs_are_found_through_the_cell_key_index(tmp_path):
    """The check each logged cell makes looks its key up in an index, not through every tag: a store
    of 10,000 runs answers it as fast as an empty one."""
    from bench.tracking.tables import _runs_sql

    Tracker(default_uri(tmp_path), "bench")
    with closing(sqlite3.connect(tmp_path / "mlflow.db")) as db:
        where = {"experiment": 0, "kind": "cell", "status": None, "cell_key": "k"}
        plan = " ".join(str(row) for row in db.execute(f"EXPLAIN QUERY PLAN {_runs_sql(None, 'k')}", where))
    assert "bench_cell_keys" in plan, plan


def test_a_cell_run_lasts_as_long_as_its_cell(tmp_path, bench_main):
    """A cell that fits for 2 s: its run starts when its fit began and ends when its scoring ended,
    so the UI's duration is the cell's compute (not the moment it was logged); the sweep's run lasts
    the sweep."""
    plugin = str(ROOT / "tests" / "plugins" / "slow_fit.py")
    said = bench_main("--plugin", plugin, "run", "--methods", "sleeps-2s", "--classes", "0")
    assert said.returncode == 0, said.stderr
    tracker = Tracker(default_uri(tmp_path / "results"), "bench")
    (cell,) = tracker.runs.runs_of_kind("cell")
    (sweep,) = tracker.runs.runs_of_kind("sweep")
    lasted = (cell.info.end_time - cell.info.start_time) / 1000
    metrics = cell.data.metrics
    assert lasted >= 2.0
    assert lasted == pytest.approx(metrics["fit_seconds"] + metrics["score_seconds"], abs=0.2)
    assert sweep.info.start_time <= cell.info.start_time and sweep.info.end_time >= cell.info.end_time
