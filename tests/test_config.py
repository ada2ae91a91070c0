"""One config for run and tune: flags fill fields by name, defaults live in the dataclasses alone."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bench.cli.main import parser
from bench.config import RunConfig, SweepConfig, TuneConfig, given
from bench.errors import BenchError
from bench.options import config_of


def test_no_flags_give_the_dataclass_defaults():
    assert config_of(RunConfig, given(RunConfig, parser().parse_args(["run"]))) == RunConfig()
    assert config_of(
        TuneConfig, given(TuneConfig, parser().parse_args(["tune", "--method", "pyod-knn"]))
    ) == TuneConfig(method="pyod-knn")


def test_run_and_tune_take_every_shared_option_by_the_same_flags():
    shared = [
        "--classes", "0,3", "--contamination", "0.05", "--anomaly-ratio", "0.1", "--known", "1,3,5",
        "--labels", "40", "--set", "pyod-knn.n_neighbors=3", "--data-dir", "d", "--device", "cpu",
        "--precision", "fp32", "--jobs", "2", "--executor", "ray", "--ray-address", "auto",
        "--cpus-per-cell", "0.5", "--gpus-per-cell", "0", "--results", "r", "--tracking-uri", "sqlite:///x.db",
        "--experiment", "e", "--seed", "4",
    ]  # fmt: skip
    run = config_of(
        RunConfig, given(RunConfig, parser().parse_args(["run", *shared, "--datasets", "digits"]))
    )
    tune = config_of(
        TuneConfig,
        given(
            TuneConfig, parser().parse_args(["tune", "--method", "pyod-knn", *shared, "--dataset", "digits"])
        ),
    )
    for field in dataclasses.fields(SweepConfig):
        assert getattr(run, field.name) == getattr(tune, field.name), field.name
    assert tune.known_classes == (1, 3, 5) and tune.labels == 40 and tune.seed == 4
    assert tune.protocol_options() == run.protocol_options()
    assert run.overrides == ("pyod-knn.n_neighbors=3",) and run.jobs == 2 and run.gpus_per_cell == 0.0


@pytest.mark.parametrize(
    "argv,expect",
    [
        (["run", "--contamination", "1.5"], "--contamination must be in [0, 1)"),
        (["run", "--labels", "0"], "--labels must be at least 1"),
        (["tune", "--method", "pyod-knn", "--trials", "0"], "--trials needs at least 1"),
        (["tune", "--method", "pyod-knn", "--dataset", "digits,fashion-mnist"], "tune takes one --dataset"),
    ],
)
def test_settings_wrong_whatever_the_data_are_refused(argv, expect):
    cls = RunConfig if argv[0] == "run" else TuneConfig
    with pytest.raises(BenchError, match=re.escape(expect)):
        config_of(cls, given(cls, parser().parse_args(argv)))


def test_a_study_is_named_by_its_protocol_settings():
    from bench.tuning.study import study_name

    assert study_name(TuneConfig(method="vae-elbo", classes=(0, 3))) == "vae-elbo.digits.one-class.c0-3.s0"
    opened = TuneConfig(method="ae-threshold", protocols=("open-set",), known_classes=(0, 1, 2), labels=30)
    assert study_name(opened) == "ae-threshold.digits.open-set[known=0,1,2_labels=30].call.s0"


def test_list_shows_a_methods_declared_hyperparameters(capsys, monkeypatch):
    from bench.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["list", "--method", "vae-elbo"]) == 0
    rows = {
        line.split("│")[1].strip(): line
        for line in capsys.readouterr().out.splitlines()
        if line.count("│") > 3
    }
    assert "one of 'dense', 'conv'" in rows["arch"]
    assert "int or None" in rows["epochs"] and ">= 1" in rows["epochs"]
    assert "in (0, 1)" in rows["holdout"] and "0.1" in rows["holdout"]
    assert "Float(low=0.0001, high=0.01, log=True)" in rows["lr"]


@pytest.mark.parametrize("argv", [["tune", "--method", "pyod-knn", "--seed=-3"], ["run", "--seed", "x"]])
def test_a_single_seed_must_be_a_count(argv, capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(argv)
    assert "takes a seed >= 0" in capsys.readouterr().err
