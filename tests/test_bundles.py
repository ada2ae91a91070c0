"""Results that travel: provenance on every cell run, export to a bundle, verified idempotent import,
and leaderboards that keep protocol versions apart, on real sweeps of digits."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from rich.console import Console

from bench.cli.ui import leaderboard_link
from bench.config import RunConfig
from bench.plugins import load_user_plugin
from bench.report.board import publish
from bench.sweep.driver import run_sweep
from bench.sweep.provenance import checkout
from bench.tracking.bundle import CELLS, MANIFEST, SCORES, read_bundle, write_bundle
from bench.tracking.tracker import Tracker, default_uri
from tests.conftest import ROOT

BROKEN = str(ROOT / "tests" / "plugins" / "broken_methods.py")
REPORTS = ("leaderboard.md", "leaderboard.csv", "leaderboard_by_class.md", "leaderboard_by_class.csv")
PROVENANCE = [
    "env.bench", "env.python", "env.torch", "env.cuda", "env.numpy", "env.pyod", "env.sklearn",
    "env.cpu", "env.device", "env.deterministic_algorithms", "env.threads", "protocol_version",
]  # fmt: skip


def sweep(results: Path, **settings) -> Tracker:
    load_user_plugin(BROKEN)
    cfg = RunConfig(results=str(results), plugins=(BROKEN,), **{"classes": (0, 1), **settings})
    run_sweep(cfg, Console(file=open("/dev/null", "w")))  # noqa: SIM115 (closed with the console)
    return Tracker(default_uri(results), "bench")


def report(tracker: Tracker, results: Path) -> dict[str, bytes]:
    publish(tracker, results, roc_curves=False)
    return {name: (results / name).read_bytes() for name in REPORTS}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A store with finished, failed and n/a cells, exported with scores; its reports."""
    root = tmp_path_factory.mktemp("source")
    tracker = sweep(root / "store", methods=("pyod-knn", "pyod-pca", "test-raises", "cnn-weighted"))
    bundle = root / "bundle"
    from bench.tracking.transfer import export_experiment

    export_experiment(tracker, bundle, scores=True)
    return tracker, root / "store", bundle, report(tracker, root / "store")


def cell_count(results: Path) -> int:
    return len(Tracker(default_uri(results), "bench").runs.runs_of_kind("cell"))


def test_every_provenance_field_is_on_a_cell_run(source):
    tracker, *_ = source
    run = tracker.runs.runs_of_kind("cell")[0]
    tags = run.data.tags
    assert [f for f in PROVENANCE if not tags.get(f)] == []
    assert tags["env.torch"] == torch.__version__ and tags["protocol_version"] == "1"
    assert tags["env.deterministic_algorithms"] == "false", "off unless --deterministic"
    here = checkout(ROOT)  # from a clone: its commit and whether it was edited; from a wheel: neither
    expected = here or {"commit": None, "dirty": None}
    assert {k: tags.get(f"env.bench_{k}") for k in ("commit", "dirty")} == expected


def test_a_checkout_is_known_by_its_commit_and_its_edits(tmp_path):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert checkout(tmp_path) == {"commit": head, "dirty": "false"}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert checkout(tmp_path) == {"commit": head, "dirty": "true"}
    assert checkout(tmp_path / "sub") == {}, "inside someone else's repository: not bench's checkout"


def test_deterministic_algorithms_are_asked_for_keyed_and_recorded(tmp_path):
    try:
        tracker = sweep(tmp_path, methods=("pyod-pca",), classes=(0,), deterministic=True)
    finally:
        torch.use_deterministic_algorithms(False)
    (run,) = tracker.runs.runs_of_kind("cell")
    assert run.data.tags["env.deterministic_algorithms"] == "true"
    plain = sweep(tmp_path, methods=("pyod-pca",), classes=(0,))  # the same cell without: a new key
    assert len({r.data.tags["cell_key"] for r in plain.runs.runs_of_kind("cell")}) == 2


def test_export_then_import_gives_the_same_leaderboard_and_twice_adds_nothing(source, tmp_path, bench_main):
    tracker, store, bundle, reports = source
    said = bench_main("import", str(bundle), "--results", str(tmp_path / "new"))
    assert said.returncode == 0, said.stderr
    assert "6 cell runs added, 0 already here" in said.stdout
    new = Tracker(default_uri(tmp_path / "new"), "bench")
    assert report(new, tmp_path / "new") == reports, "the same tables, byte for byte"
    assert "| pyod-knn |" in reports["leaderboard.md"].decode() and b"n/a" in reports["leaderboard.md"]
    assert b"injected failure in fit" in reports["leaderboard.md"]

    again = bench_main("import", str(bundle), "--results", str(tmp_path / "new"))
    assert "0 cell runs added, 6 already here" in again.stdout
    assert cell_count(tmp_path / "new") == 6
    nothing = bench_main(
        "export", "--results", str(store), "--experiment", "nope", "--to", str(tmp_path / "x")
    )
    assert nothing.returncode == 2 and "has no cell runs to export" in nothing.stderr
    home = bench_main("import", str(bundle), "--results", str(store))
    assert "0 cell runs added, 6 already here" in home.stdout, "the runs it was made from are here"

    imported = {r.data.tags["bench.source_run"]: r.info.run_id for r in new.runs.runs_of_kind("cell")}
    times = {r.info.run_id: (r.info.start_time, r.info.end_time) for r in new.runs.runs_of_kind("cell")}
    for run in tracker.runs.runs_of_kind("cell"):
        assert times[imported[run.info.run_id]] == (run.info.start_time, run.info.end_time), "its own times"
        if run.info.status == "FINISHED":  # the scores came along: curves can be drawn again
            mine = tracker.runs.cell_scores(run.info.run_id, tmp_path / "a")
            theirs = new.runs.cell_scores(imported[run.info.run_id], tmp_path / "b")
            pd.testing.assert_frame_equal(mine, theirs)

    # Exported again from the store it went into: the same bundle, byte for byte, under the ids its
    # runs were made with; exported once more, the folder is left as it is (its date too).
    out = tmp_path / "again"
    export = ["export", "--results", str(tmp_path / "new"), "--scores", "--to", str(out)]
    said = bench_main(*export)
    assert said.returncode == 0 and "left as it was" not in said.stdout
    assert [(out / f).read_bytes() == (bundle / f).read_bytes() for f in (CELLS, SCORES)] == [True, True]
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == json.loads((bundle / MANIFEST).read_text())["files"]
    (out / MANIFEST).write_text(json.dumps({**manifest, "created": "2000-01-01T00:00:00Z"}))
    said = bench_main(*export)
    assert said.returncode == 0 and "the bundle there held exactly these, left as it was" in said.stdout
    assert json.loads((out / MANIFEST).read_text())["created"] == "2000-01-01T00:00:00Z"


def corrupt(bundle: Path, where: Path, how: str) -> Path:
    broken = shutil.copytree(bundle, where)
    if how == "flipped byte":
        data = bytearray((broken / CELLS).read_bytes())
        data[len(data) // 2] ^= 0x01
        (broken / CELLS).write_bytes(bytes(data))
    elif how == "missing file":
        (broken / SCORES).unlink()
    else:
        manifest = json.loads((broken / MANIFEST).read_text())
        (broken / MANIFEST).write_text(json.dumps({**manifest, "format": manifest["format"] + 1}))
    return broken


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("flipped byte", "does not match its manifest's sha256"),
        ("missing file", "scores.parquet is missing"),
        ("newer format", "bundle and this bench reads format 1: upgrade bench"),
    ],
)
def test_a_changed_bundle_is_refused_in_one_line_and_nothing_is_written(
    source, tmp_path, bench_main, how, said
):
    broken = corrupt(source[2], tmp_path / "broken", how)
    answer = bench_main("import", str(broken), "--results", str(tmp_path / "store"))
    assert answer.returncode == 2 and answer.stdout == ""
    assert answer.stderr.count("\n") == 1 and said in answer.stderr, answer.stderr
    assert not (tmp_path / "store").exists()


def rewritten(bundle: Path, where: Path, change) -> Path:
    """The bundle's runs as another store would have made them: new run ids, ``change`` applied."""
    b = read_bundle(bundle)
    cells = b.cells.assign(run_id=[uuid.uuid4().hex for _ in range(len(b.cells))])
    write_bundle(where, change(cells), None, {k: v for k, v in b.manifest.items() if k != "files"})
    return where


def test_a_cell_held_with_another_result_is_kept_apart_and_reported(source, tmp_path, bench_main):
    _, store, bundle, _ = source
    local = tmp_path / "store"
    shutil.copytree(store, local)

    def other_result(cells: pd.DataFrame) -> pd.DataFrame:
        first = cells.index[cells["status"] == "FINISHED"][0]
        cells.loc[first, "metrics.auroc"] = 0.5
        return cells

    answer = bench_main(
        "import", str(rewritten(bundle, tmp_path / "b", other_result)), "--results", str(local)
    )
    assert "0 cell runs added, 5 already here" in answer.stdout, answer.stdout
    assert "kept apart, not in any leaderboard: 1 cells" in answer.stdout
    assert "AUROC 0.5000 in the bundle" in answer.stdout
    tracker = Tracker(default_uri(local), "bench")
    assert len(tracker.runs.runs_of_kind("conflict")) == 1
    assert report(tracker, local) == source[3], "the store's own result stands"
    again = bench_main("import", str(tmp_path / "b"), "--results", str(local))
    assert len(tracker.runs.runs_of_kind("conflict")) == 1 and "6 already here" in again.stdout


def test_cells_of_two_protocol_versions_are_two_rows(source, tmp_path, bench_main):
    _, _, bundle, _ = source

    def version_two(cells: pd.DataFrame) -> pd.DataFrame:  # a later bench whose one-class splits differ
        keys = cells["tags.cell_key"].map(lambda k: f"v2-{k}")
        return cells.assign(**{"tags.protocol_version": "2", "tags.cell_key": keys})

    later = rewritten(bundle, tmp_path / "v2", version_two)
    for b in (bundle, later):
        assert bench_main("import", str(b), "--results", str(tmp_path / "mixed")).returncode == 0
    board = publish(Tracker(default_uri(tmp_path / "mixed"), "bench"), tmp_path / "mixed", False)[0].board
    knn = board[board["method"] == "pyod-knn"]
    assert sorted(knn["protocol"]) == ["one-class", "one-class@v2"] and knn["cells"].tolist() == [2, 2]
    md = (tmp_path / "mixed" / "leaderboard.md").read_text()
    assert "protocol versions: one-class v1 (4 cells), one-class v2 (4 cells)" in md


SHIPPED = ROOT / "benchmarks" / "bundles" / "fmnist-one-class"
README_BLOCK = ("<!-- fmnist-one-class bundle: rows of leaderboard_by_class.md -->", "<!-- end of bundle -->")


def readme_rows() -> list[str]:
    block = (ROOT / "README.md").read_text().split(README_BLOCK[0])[1].split(README_BLOCK[1])[0]
    return [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| method")]


def test_the_shipped_bundle_is_the_readmes_table_and_a_new_method_ranks_against_it(
    fashion, tmp_path, bench_main
):
    experiment = ["--results", "out", "--experiment", "fmnist-one-class"]
    assert bench_main("import", str(SHIPPED), "--results", "out").returncode == 0
    # `bench ui` on a store holding only the imported experiment: its link opens that experiment
    # (on the leaderboard view saved on it now), and no experiment is made.
    uri, url = leaderboard_link(tmp_path / "out", None, None, "http://ui")
    client = MlflowClient(uri)
    shipped = client.get_experiment_by_name("fmnist-one-class")
    assert url.startswith(f"http://ui/#/experiments/{shipped.experiment_id}/runs?viewStateShareKey=")
    assert "mlflow.sharedViewState.bench-leaderboard" in shipped.tags
    assert [e.name for e in client.search_experiments()] == ["fmnist-one-class", "Default"]
    assert bench_main("leaderboard", *experiment, "--no-roc").returncode == 0
    table = (tmp_path / "out" / "leaderboard_by_class.md").read_text().splitlines()
    prefix = "| fashion-mnist | one-class | "
    assert ["| " + line.removeprefix(prefix) for line in table if line.startswith(prefix)] == readme_rows()

    # A shipped cell is done here too (the same key on every machine); a new method runs beside them.
    run = [
        "run",
        *experiment,
        "--datasets",
        "fashion-mnist",
        "--classes",
        "0",
        "--methods",
        "pyod-knn,pyod-pca",
    ]
    said = bench_main(*run)
    assert said.returncode == 0 and "1 cells ok, 0 failed, 1 already done" in said.stdout, said.stdout
    tracker = Tracker(default_uri(tmp_path / "out"), "fmnist-one-class")
    board = publish(tracker, tmp_path / "out", False)[0].board
    assert len(board) == len(readme_rows()) + 1 and board["rank"].notna().all()


def test_reproduce_reruns_a_bundle_and_reports_what_differs(source, tmp_path, bench_main):
    """`bench reproduce`: every cell of the digits bundle rerun here is identical (the failed cell
    fails again, the n/a entry travels), exit 0; a bundle with one metric edited (its manifest
    re-hashed) reports that cell outside the tolerance and exits 1, rerunning only the failed cells (as
    every sweep does); a subset
    reruns only its cells. The Python API returns the same comparison."""
    _, _, bundle, _ = source
    again = ["--plugin", BROKEN, "reproduce", str(bundle), "--results", "out"]
    said = bench_main(*again)
    assert said.returncode == 0, said.stdout + said.stderr
    assert "6 cells ok" not in said.stdout and "4 cells ok, 2 failed" in said.stdout
    assert "6 cells: 6 identical, 0 within 0.005, 0 outside" in said.stdout
    assert "| FAILED | FAILED |" in said.stdout and "n/a in the bundle: cnn-weighted" in said.stdout
    rows = pd.read_csv(tmp_path / "out" / "reproduce-bundle.csv")
    assert (rows["verdict"] == "identical").all() and len(rows) == 6

    def edited(cells: pd.DataFrame) -> pd.DataFrame:
        first = cells.index[(cells["status"] == "FINISHED") & (cells["tags.method"] == "pyod-knn")][0]
        cells.loc[first, "metrics.auroc"] += 0.01
        return cells

    changed = rewritten(bundle, tmp_path / "edited", edited)
    said = bench_main(*again[:3], str(changed), "--results", "out", "--experiment", "reproduce:bundle")
    assert said.returncode == 1 and "4 already done (skipped)" in said.stdout, said.stdout + said.stderr
    assert "5 identical, 0 within 0.005, 1 outside" in said.stdout
    assert "| pyod-knn | digits | one-class | 0 | 0 | FINISHED | FINISHED |" in said.stdout
    assert "-1.00e-02 | OUTSIDE tolerance |" in said.stdout

    import bench

    subset = bench.reproduce(bundle, methods=["pyod-pca"], classes=[1], results=str(tmp_path / "sub"),
                             plugins=(BROKEN,))  # fmt: skip
    assert subset.ok and len(subset.cells) == 1 and subset.summary()["identical"] == 1
    ran = Tracker(default_uri(tmp_path / "sub"), "reproduce:bundle").runs.runs_of_kind("cell")
    assert [r.data.tags["method"] for r in ran] == ["pyod-pca"] and ran[0].data.tags["class"] == "1"
