"""Registries: explicit names, duplicates, close matches, entry-point plugins, the README example."""

from __future__ import annotations

import re
import sys
from typing import Literal

import pandas as pd
import pytest

from bench.errors import UnknownNameError
from bench.registry import METHODS, Registry, register_method
from tests.conftest import ROOT, run_cli


def test_duplicate_names_raise():
    reg: Registry[object] = Registry("thing")
    from bench.registry import MethodInfo

    reg.add(MethodInfo("a"), object())
    with pytest.raises(ValueError, match="already registered"):
        reg.add(MethodInfo("a"), object())
    with pytest.raises(ValueError, match="already registered"):
        register_method("ae-threshold")(type("Again", (), {}))


def test_unknown_name_lists_known_and_closest():
    with pytest.raises(UnknownNameError) as err:
        METHODS.get("ae-treshold")
    text = str(err.value)
    assert "did you mean 'ae-threshold'" in text and "pyod-knn" in text and "pyod:<ClassName>" in text


def test_unknown_needs_are_rejected():
    with pytest.raises(ValueError, match="unknown needs"):
        register_method("x", needs={"telepathy"})


def test_pyod_family_resolves_any_detector():
    info, cls = METHODS.get("pyod:MCD")
    assert info.name == "pyod:MCD" and cls.class_name == "MCD"
    assert "support_fraction" in cls().get_params()


def readme_example() -> tuple[str, str]:
    """The example of docs/adding-a-method.md: the plugin file and the command that runs it."""
    text = (ROOT / "docs" / "adding-a-method.md").read_text()
    section = text.split("Save this as `my_method.py`", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    command = re.search(r"```sh\n(python -m bench --plugin my_method.py run[^\n]*)\n```", section).group(1)
    return code, command


@pytest.mark.slow
def test_readme_add_a_method_example_runs_word_for_word(tmp_path, bench_main):
    code, command = readme_example()
    assert 20 <= len(code.splitlines()) <= 40
    (tmp_path / "my_method.py").write_text(code)
    args = command.split()[3:]  # after "python -m bench"
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert bench_main("leaderboard").returncode == 0
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv").set_index("method")
    assert board.loc["pixel-zscore", "cells"] == 10
    assert board.loc["pixel-zscore", "auroc_mean"] > 0.8


def test_readme_example_passes_the_contract_checks(tmp_path):
    from bench.contract.checks import run_checks
    from bench.plugins import load_user_plugin

    code, _ = readme_example()
    (tmp_path / "readme_method.py").write_text(code)
    load_user_plugin(str(tmp_path / "readme_method.py"))
    try:
        assert run_checks("pixel-zscore") == {}
    finally:
        METHODS._entries.pop("pixel-zscore")


def test_parse_overrides_reads_json_values():
    from bench.config import parse_overrides, variant_label

    got = parse_overrides(("vae-elbo.arch=conv", "vae-elbo.lr=1e-3", "ae-kde.bandwidth=None", "x.y=[1,2]"))
    assert got == {
        "vae-elbo": {"arch": "conv", "lr": 0.001},
        "ae-kde": {"bandwidth": None},
        "x": {"y": (1, 2)},
    }
    assert variant_label("vae-elbo", got["vae-elbo"]) == "vae-elbo[arch=conv,lr=0.001]"


THINGS = None  # the registry the discovery test's temporary modules register into


def test_built_ins_are_found_not_listed(tmp_path, monkeypatch):
    """A registry imports every public module of its package on first read: a new file is the whole
    change, and a ``_private`` helper module is left alone."""
    from bench.registry import PROTOCOLS, Registry, builtin_modules

    package = tmp_path / "my_things"
    package.mkdir()
    (package / "__init__.py").write_text('"""Things."""\n')
    for name in ("alpha", "beta"):
        (package / f"{name}.py").write_text(
            "from tests.test_registry import THINGS\n"
            f"from bench.registry import DatasetInfo\nTHINGS.add(DatasetInfo({name!r}), {name!r})\n"
        )
    (package / "_helpers.py").write_text("raise RuntimeError('a private module is never imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", "my_things")
    monkeypatch.setattr(sys.modules[__name__], "THINGS", things)
    assert things.names() == ["alpha", "beta"]
    assert things.get("beta")[1] == "beta"
    assert builtin_modules("bench.protocols") == [
        f"bench.protocols.{n}" for n in sorted(p.stem for p in (ROOT / "protocols").glob("[!_]*.py"))
    ]
    assert {"one-class", "leave-one-out", "supervised", "balanced", "open-set"} <= set(PROTOCOLS.names())


def test_a_choice_takes_its_values_from_the_declaration_the_check_reads():
    """``Choice()`` searches the values a ``Literal`` (or bool) declares: the set is written once, and a
    value outside it is refused by the same declaration; a Choice() of a float has nothing to take."""
    from typing import ClassVar

    from bench.api import Choice, Method, register_method
    from bench.contract.params import check_params

    class Declared(Method):
        search_space: ClassVar = {"arch": Choice(), "wide": Choice()}

        def __init__(self, arch: Literal["dense", "conv"] = "dense", wide: bool = False, lr: float = 0.1):
            self.arch, self.wide, self.lr = arch, wide, lr

    try:
        register_method("test-declared-choice")(Declared)
        assert Declared.search_space == {"arch": Choice(("dense", "conv")), "wide": Choice((False, True))}
        with pytest.raises(Exception, match="arch takes one of 'dense', 'conv', not 'wider'"):
            check_params("test-declared-choice", Declared.hyperparameters(), {"arch": "wider"})
        Declared.search_space = {"lr": Choice()}
        with pytest.raises(ValueError, match="Choice\\(\\) for lr needs a set of values; it takes float"):
            register_method("test-declared-choice-2")(Declared)
    finally:
        METHODS._entries.pop("test-declared-choice", None)
