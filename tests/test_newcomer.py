"""Adding a method as a newcomer would: `bench new-method`, `bench check`, `--plugin`, a packaged
plugin whose entry point names a class, and tables that say "—" where F1 is undefined."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from bench.contract.checks import CHECKS
from bench.errors import BenchError
from bench.plugins import load_entry_point
from bench.registry import METHODS
from tests.conftest import ROOT, run_cli

CHECKED = str(ROOT / "tests" / "plugins" / "check_methods.py")


@pytest.mark.slow
def test_newcomer_path_in_a_fresh_environment(tmp_path):
    """benchmarks/newcomer.sh: new-method, check, run --plugin, then a built wheel with a class
    entry point installed, listed, checked from plain Python and run. Its cells name the package."""
    env = {**os.environ, "PYTHON": sys.executable, "BENCH_CACHE": str(tmp_path / "cache")}
    res = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "newcomer.sh"), str(tmp_path / "work")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    assert f"1 methods, {len(CHECKS)} checks: 0 failed" in out  # the generated file passes as written
    listed = [line for line in out.splitlines() if line.startswith("│ my-method ") and "custom" in line]
    assert len(listed) == 1  # `bench list --plugin my_method.py`: its row, family custom
    assert out.count("2 cells ok, 0 failed") == 2  # my-method and meanpix, two digits classes each
    assert "plugin: meanpix = meanpix_pkg:MeanPixelDistance (meanpix-pkg 0.1)" in out
    assert "third-party" in out and "package meanpix-pkg 0.1" in out
    assert "run_checks: {}" in out
    client = MlflowClient(f"sqlite:///{tmp_path / 'work' / 'results' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("bench").experiment_id
    runs = client.search_runs([experiment], "tags.bench.kind = 'cell'")
    by_method = {}
    for run in runs:
        by_method.setdefault(run.data.tags["method"], []).append(run.data.tags.get("plugin"))
    assert by_method == {"my-method": [None, None], "meanpix": ["meanpix-pkg 0.1"] * 2}


@pytest.mark.slow
def test_check_prints_a_row_per_check_and_fails_on_a_broken_method(tmp_path):
    res = run_cli("check", CHECKED, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("│")]
    assert len(rows) >= 3 * len(CHECKS)  # 3 methods (long reasons wrap onto more lines)
    good = [r for r in rows if "check-good" in r]
    assert len(good) == len(CHECKS) and all("│ pass " in r for r in good)
    assert any("check-constant" in r and "check_planted_outliers_found" in r and "FAIL" in r for r in rows)
    assert any("check-inverted" in r and "allowed failure" in r for r in rows)
    assert f"3 methods, {3 * len(CHECKS)} checks:" in res.stdout
    assert "failed (check-constant), 2 allowed failures" in res.stdout


def test_allowed_failures_do_not_fail_the_check(capsys):
    from bench.cli.main import main

    try:
        assert main(["--plugin", CHECKED, "check", "check-good", "check-inverted"]) == 0
    finally:
        for name in ("check-good", "check-constant", "check-inverted"):
            METHODS._entries.pop(name, None)
    assert f"2 methods, {2 * len(CHECKS)} checks: 0 failed, 2 allowed failures" in capsys.readouterr().out


def test_check_errors_are_one_line(tmp_path, capsys):
    from bench.cli.main import main

    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("import numpy\n\nvalue = 1 / 0\n")
    for target, words in (
        ("no-such-method", "unknown method 'no-such-method'"),
        (str(tmp_path / "empty.py"), "registers no method"),
        (str(tmp_path / "broken.py"), "broken.py:3: ZeroDivisionError: division by zero"),
    ):
        assert main(["check", target]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err


def test_new_method_refuses_bad_names_existing_methods_and_files(tmp_path):
    from bench.cli.new_method import new_method

    target = tmp_path / "mine.py"
    assert "check it:  python -m bench check" in new_method("mine", out=str(target))
    for name, out, words in (
        ("Bad_Name", None, "lowercase letters"),
        ("ae-threshold", None, "already exists"),
        ("mine-two", str(target), "exists: bench never overwrites it"),
        ("mine-three", str(tmp_path / "x.txt"), "ends in .py"),
    ):
        with pytest.raises(BenchError, match=words):
            new_method(name, out=out)
    assert "class Mine(Method)" in target.read_text()


def test_entry_points_name_a_module_or_a_class_and_broken_ones_say_which():
    group = "bench.methods"
    try:
        module = load_entry_point(EntryPoint("ep-module", "tests.plugins.class_plugin", group))
        assert module == ["ep-decorated"]  # the module's decorators register; its plain class is left
        added = load_entry_point(EntryPoint("ep-class", "tests.plugins.class_plugin:MeanPixels", group))
        assert added == ["ep-class"]
        info, cls = METHODS.get("ep-class")
        assert info.family == "third-party" and cls.__name__ == "MeanPixels"
        again = load_entry_point(EntryPoint("other", "tests.plugins.class_plugin:Decorated", group))
        assert again == [] and "other" not in METHODS  # already registered by its decorator
    finally:
        for name in ("ep-class", "ep-decorated"):
            METHODS._entries.pop(name, None)
    for value, words in (
        ("tests.plugins.class_plugin:NOT_A_METHOD", "names int"),
        ("no_such_plugin_module", "failed to load: ModuleNotFoundError: No module named 'no_such_plugin"),
    ):
        with pytest.raises(BenchError, match="plugin 'broken'") as err:
            load_entry_point(EntryPoint("broken", value, group))
        assert words in str(err.value) and "\n" not in str(err.value)


def test_f1_without_an_own_rule_is_a_dash_with_a_footnote():
    import pandas as pd

    from bench.report.leaderboard import leaderboard, to_markdown
    from bench.scoring.metrics import NO_OWN_RULE

    rows = [
        {"method": m, "dataset": "d", "protocol": "one-class", "cell_key": f"{m}{k}", "class": k}
        | {"start_time": 0, "auroc": 0.8}
        | ({"f1": 0.5} if m == "ruled" else {})
        | ({"tuned_f1": 0.6} if m == "tuned" else {})
        for m in ("ruled", "unruled", "tuned")
        for k in range(2)
    ]
    rows.append(dict(rows[0], method="ruled", cell_key="ruled-nan", f1=np.nan))
    board = leaderboard(pd.DataFrame(rows), [("c", "one-class", "n/a: needs anomaly labels")])
    md = to_markdown(board)
    names = ("ruled", "unruled", "tuned", "c")
    line = {m: next(x for x in md.splitlines() if f"| {m} |" in x) for m in names}
    assert "| 0.500 ± 0.000 |" in line["ruled"]
    assert "| — |" in line["unruled"] and "| — |" in line["tuned"] and "0.600" in line["tuned"]
    assert "| — |" not in line["c"]  # a row without cells has no F1 to be undefined
    assert NO_OWN_RULE in md and "nan" not in md
    assert NO_OWN_RULE not in to_markdown(board[board["method"] == "ruled"])


def test_the_torch_template_passes_the_checks_as_written(tmp_path):
    from bench.cli.new_method import new_method
    from bench.contract.checks import run_checks
    from bench.plugins import load_user_plugin

    new_method("template-ae", torch=True, out=str(tmp_path / "template_ae.py"))
    try:
        assert load_user_plugin(str(tmp_path / "template_ae.py")) == ["template-ae"]
        info, cls = METHODS.get("template-ae")
        assert info.family == "autoencoder" and set(cls.search_space) == {"code", "lr"}
        assert run_checks("template-ae") == {}
    finally:
        METHODS._entries.pop("template-ae", None)


def test_templates_pass_ruff_inside_bench_and_in_a_users_project(tmp_path, monkeypatch):
    """Ruff calls ``bench`` first-party inside bench's own tree and third-party elsewhere; the
    templates' imports are sorted for the place they are written, and lint clean in both."""
    import shutil

    from bench.cli.new_method import new_method

    ruff = shutil.which("ruff")
    inside, outside = tmp_path / "bench-checkout", tmp_path / "my-project"
    for project in (inside, outside):
        (project / "plugins").mkdir(parents=True)
        (project / "pyproject.toml").write_text(
            '[tool.ruff]\nline-length = 110\n[tool.ruff.lint]\nselect = ["E", "F", "W", "I", "B", "UP"]\n'
        )
    (inside / "bench").mkdir()
    (inside / "bench" / "api.py").write_text('"""The plugin API."""\n')
    for project in (inside, outside):
        monkeypatch.chdir(project)
        new_method("tmpl-np", out="plugins/tmpl_np.py")
        new_method("tmpl-torch", torch=True, out="plugins/tmpl_torch.py")
        res = subprocess.run([ruff, "check", "plugins"], cwd=project, capture_output=True, text=True)
        assert res.returncode == 0, (project.name, res.stdout)
    assert "\n\nfrom bench.api import" in (inside / "plugins" / "tmpl_np.py").read_text()
    assert "import numpy as np\nfrom bench.api import" in (outside / "plugins" / "tmpl_np.py").read_text()
