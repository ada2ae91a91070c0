"""bench from Python: the researcher's path (a method defined inline, run in worker processes and on
Ray, from a script without a main guard), the same tables as the command line, the same errors."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench
from bench.api import Count, Method, register_method
from bench.cli.main import main, parser
from bench.errors import BenchError
from bench.registry import METHODS
from tests.conftest import ROOT
from tests.test_bad_inputs import CASES, PLACES_AND_GRIDS, dataset_files_argv, places_and_grids_argv
from tests.test_cli import BAD_HYPERPARAMETERS, BAD_SETS, USER_ERRORS

GRID = {"methods": ["pyod-knn", "ae-threshold"], "classes": [0, 1]}
CSVS = ("leaderboard.csv", "leaderboard_by_class.csv", "leaderboard_by_class_std.csv")

# A researcher's notebook cell: a method, its power by default POWER.
CELL = """
@register_method("mean-distance")
class MeanDistance(Method):
    def __init__(self, power: Count = POWER) -> None:
        self.power = power
    def fit(self, train, env):
        self.mean = train.x.reshape(len(train.x), -1).mean(0)
        return self
    def score(self, x):
        return (np.abs(x.reshape(len(x), -1) - self.mean) ** self.power).sum(1)
"""
# A researcher's script: the cell, the cell again edited (power 1: a notebook cell run twice), then
# a sweep in worker processes; no `if __name__ == "__main__":` guard.
SCRIPT = """
import json, sys
import numpy as np
import bench
from bench.api import Count, Method, register_method
CELLS
result = bench.run(**OPTIONS)
cells = result.cells
print(json.dumps({
    "status": cells["status"].tolist(),
    "methods": cells["method"].tolist(),
    "power": [h.get("power") for h in cells["hyperparameters"]],
    "auroc": cells["auroc"].tolist(),
}))
""".replace("CELLS", CELL.replace("POWER", "2") + CELL.replace("POWER", "1"))


def run_script(folder: Path, env: dict[str, str] | None = None, **options: object) -> tuple[str, str]:
    """Run the researcher's script with ``bench.run(**options)`` in a fresh interpreter, as
    ``python study.py``; its stdout and stderr."""
    script = folder / "study.py"
    script.write_text(SCRIPT.replace("**OPTIONS", f"**{options!r}"))
    res = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout, res.stderr


@pytest.mark.slow
def test_a_method_defined_in_a_script_without_a_main_guard_runs_in_worker_processes(tmp_path):
    """(The same script with Ray tasks: ``test_scale.py::test_jobs_and_ray_give_the_serial_leaderboard``.)"""
    out, err = run_script(
        tmp_path, methods=["mean-distance", "pyod-knn"], classes=[0, 1], jobs=2, results="out"
    )
    assert "bench: method 'mean-distance' registered again: this definition replaces" in err
    cells = json.loads(out.strip().splitlines()[-1])
    assert cells["status"] == ["FINISHED"] * 4
    assert cells["methods"] == ["mean-distance", "mean-distance", "pyod-knn", "pyod-knn"]
    assert cells["power"][:2] == [1, 1], "the workers ran the second definition"
    assert all(0.8 < a <= 1 for a in cells["auroc"])


def test_registering_again_replaces_only_a_notebook_s_own_class():
    """A class defined in ``__main__`` (a notebook) replaces its earlier self; a name that a built-in
    or any module holds is refused."""

    def define(module: str, power: int) -> type:
        cls = type("Notebook", (Method,), {"__init__": lambda self, power=power: None, "__module__": module})
        cls.__init__.__annotations__ = {"power": Count}
        return cls

    try:
        register_method("nb-method")(define("__main__", 1))
        second = register_method("nb-method")(define("__main__", 2))
        assert METHODS.get("nb-method")[1] is second
        with pytest.raises(ValueError, match=r"'pyod-knn' is already registered \(by bench\.methods"):
            register_method("pyod-knn")(define("__main__", 1))
        with pytest.raises(ValueError, match="'nb-method' is already registered"):
            register_method("nb-method")(define("my_package.methods", 1))
    finally:
        METHODS._entries.pop("nb-method", None)


def test_a_method_that_cannot_travel_to_workers_stops_the_run_before_any_work(tmp_path):
    import threading

    def score(self, x):
        return x.reshape(len(x), -1).mean(1)

    attrs = {"lock": threading.Lock(), "fit": lambda self, train, env: self, "score": score}
    cls = type("Locked", (Method,), {**attrs, "__module__": "__main__"})
    try:
        register_method("nb-locked")(cls)
        with pytest.raises(
            BenchError, match=r"method 'nb-locked' cannot be sent to worker processes \(TypeError"
        ):
            bench.run(methods=["nb-locked"], classes=[0], jobs=2, results=tmp_path / "out")
    finally:
        METHODS._entries.pop("nb-locked", None)
    assert not (tmp_path / "out").exists()


def test_what_workers_load_themselves_is_not_sent(tmp_path):
    """A method of a ``--plugin`` file (which every worker imports) is neither pickled nor sent, even
    one that could not be pickled; loaded by hand and not named as a plugin, it must travel."""
    import pickle

    from bench.plugins import load_user_plugin, shipment

    plugin = tmp_path / "locked_plugin.py"
    plugin.write_text(
        "import threading\n"
        "from bench.api import Method, register_method\n\n\n"
        '@register_method("file-locked")\n'
        "class Locked(Method):\n"
        "    lock = threading.Lock()\n"
    )
    try:
        load_user_plugin(str(plugin))
        assert pickle.loads(shipment(["file-locked"], ["one-class"], [str(plugin)])) == []
        with pytest.raises(BenchError, match="method 'file-locked' cannot be sent to worker processes"):
            shipment(["file-locked"], [], [])
    finally:
        METHODS._entries.pop("file-locked", None)


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    """One sweep from Python (worker processes), shared by the checks of its result."""
    results = tmp_path_factory.mktemp("api") / "out"
    return bench.run(**GRID, jobs=2, results=results), results


@pytest.mark.slow
def test_run_returns_its_cells_and_the_leaderboard_of_its_files(api_run, tmp_path, bench_main):
    result, results = api_run
    cells = result.cells
    assert list(cells.columns[:6]) == ["method", "dataset", "protocol", "class", "seed", "status"]
    assert cells[["method", "class"]].values.tolist() == [
        ["ae-threshold", 0], ["ae-threshold", 1], ["pyod-knn", 0], ["pyod-knn", 1]
    ]  # fmt: skip
    assert (cells["status"] == "FINISHED").all() and cells["auroc"].between(0.5, 1).all()
    assert cells["hyperparameters"][2]["n_neighbors"] == 5 and cells["env.torch"].notna().all()
    pd.testing.assert_frame_equal(bench.cells(results), cells)
    board = result.leaderboard(write=True)
    assert (results / "leaderboard.csv").read_text() == board.board.to_csv(index=False)
    assert (results / "leaderboard_by_class.csv").read_text() == board.by_class.to_csv(index=False)
    assert set(board.figures) == {
        "heatmap_digits_one-class.png", "roc_digits_one-class_class0.png", "roc_digits_one-class_class1.png"
    }  # fmt: skip
    figures = result.figures(0)
    assert sorted(figures) == ["roc.svg", "score_histogram.svg"]
    assert ">ae-threshold · digits · one-class 0</text>" in figures["roc.svg"]._repr_svg_()

    # The command line with the same options: the same table, but for the seconds each cell took.
    argv = ["--methods", "pyod-knn,ae-threshold", "--classes", "0,1", "--jobs", "2", "--results", "cli"]
    assert bench_main("run", *argv).returncode == 0
    assert bench_main("leaderboard", "--results", "cli").returncode == 0
    ours, theirs = (pd.read_csv(p / "leaderboard_by_class.csv") for p in (results, tmp_path / "cli"))
    assert ours.drop(columns="s / cell").to_csv() == theirs.drop(columns="s / cell").to_csv()
    cli_board = pd.read_csv(tmp_path / "cli" / "leaderboard.csv")
    assert np.array_equal(board.board["auroc_mean"], cli_board["auroc_mean"])
    # Into the command line's store, the same options find every cell done (the same keys), and the
    # leaderboard bench.leaderboard writes is the command's, byte for byte.
    written = {name: (tmp_path / "cli" / name).read_bytes() for name in CSVS}
    again = bench.run(**GRID, jobs=2, results=tmp_path / "cli")
    assert again.report.skipped == 4 and not again.report.ok and len(again.cells) == 4
    bench.leaderboard(tmp_path / "cli")
    assert {name: (tmp_path / "cli" / name).read_bytes() for name in CSVS} == written


@pytest.mark.slow
def test_a_torch_cell_logs_its_loss_by_epoch_from_the_worker_that_fitted_it(api_run):
    from bench.tracking.tracker import Tracker

    result, results = api_run
    runs = Tracker.existing(results, None, "bench").runs
    for cell in result.cells[result.cells["method"] == "ae-threshold"].itertuples():
        history = runs.curve(cell.run_id, "loss")
        assert [step for step, _ in history] == list(range(1, int(cell.epochs_run) + 1))
        assert cell.loss == history[-1][1], "the run's value is the last epoch's"
        assert history[-1][1] < history[0][1], "the autoencoder learned"
    knn = result.cells[result.cells["method"] == "pyod-knn"]
    assert not runs.curve(knn["run_id"].iloc[0], "loss"), "no curve where nothing trains"


def test_a_dry_run_plans_and_runs_nothing(tmp_path):
    result = bench.run(**GRID, protocols="one-class,supervised", results=tmp_path / "out", dry_run=True)
    assert result.report is None and not (tmp_path / "out").exists()
    planned = result.cells
    assert (planned["status"] == "planned").sum() == 4 and "n/a" in set(planned["status"])


def test_options_take_python_values_and_the_flags_text():
    from bench.config import RunConfig
    from bench.options import config_of

    python = config_of(RunConfig, {"classes": [0, 3], "seeds": 2, "params": {"vae-elbo": {"arch": "conv"}}})
    text = config_of(RunConfig, {"classes": "0,3", "seeds": "2", "set": ['vae-elbo.arch="conv"']})
    assert python == text
    assert python.seeds == (0, 1) and config_of(RunConfig, {"seed": 4}).seeds == (4,)
    assert config_of(RunConfig, {"seeds": [4]}).seeds == (4,), "a list names seeds, even a list of one"
    with pytest.raises(BenchError, match=r"unknown option 'clases' \(did you mean 'classes'\?\)"):
        bench.run(clases=[0])


def _as_keywords(argv: list[str]) -> dict[str, object]:
    """A ``bench run`` command line as ``bench.run``'s keywords, each value as the flag's text."""
    if argv[0] == "--plugin":
        return {"plugins": [argv[1]], **_as_keywords(["run", *argv[3:]])}
    flags = {o: a for a in _run_parser()._actions for o in a.option_strings}
    keywords: dict[str, object] = {}
    rest = list(argv[1:])
    while rest:
        flag, eq, value = rest.pop(0).partition("=")
        action = flags[flag]
        if action.nargs == 0:
            keywords[action.dest] = action.const
            continue
        value = value if eq else rest.pop(0)
        if flag == "--seed":
            keywords["seed"] = int(value)
        elif action.dest == "overrides":
            keywords["overrides"] = [*keywords.get("overrides", []), value]
        else:
            keywords[action.dest] = value
    return keywords


def _run_parser():
    return next(a for a in parser()._actions if a.dest == "command").choices["run"]


def _cases() -> list[tuple[str, object]]:
    cases = [(f"user error {args}", args) for args, _ in USER_ERRORS]
    cases += [(f"--set {item}", ("run", "--methods", "ae-threshold", "--set", item)) for item, _ in BAD_SETS]
    cases += [
        (f"hyperparameter {item}", ("run", "--methods", f"{item.split('.')[0]},pyod-pca", "--set", item))
        for item, _ in BAD_HYPERPARAMETERS
    ]
    cases += [(f"places {flags}", flags) for flags, _ in PLACES_AND_GRIDS]
    return cases + [(f"data: {case}", case) for case in sorted(CASES)]


@pytest.mark.parametrize("case", [c for c, _ in _cases()])
def test_every_bad_input_of_the_command_line_raises_the_same_line_from_python(tmp_path, capsys, case):
    given = dict(_cases())[case]
    if case.startswith("places"):
        argv = places_and_grids_argv(tmp_path, given)
    elif case.startswith("data"):
        argv = dataset_files_argv(tmp_path, given)
    else:
        argv = [*given[:2], "run"] if given[-1] == "list" else list(given)
        argv += ["--results", str(tmp_path / "out")]
    assert main(argv) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    with pytest.raises(BenchError) as raised:
        bench.run(**_as_keywords(argv))
    assert f"bench: error: {raised.value}" == line
    assert not (tmp_path / "out" / "mlflow.db").exists() or "tracking" in case


def test_the_api_is_imported_lazily():
    """``import bench`` (what ``python -m bench`` starts with) imports no sweep, store or torch."""
    heavy = "('bench.engine', 'torch', 'mlflow')"
    code = f"import sys, bench; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(bench.run) and "dry_run" in str(inspect.signature(bench.run))
