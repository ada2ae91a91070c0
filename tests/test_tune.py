"""``bench tune`` and ``--threshold tuned`` end to end: real digits, real Optuna SQLite, real MLflow."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow
STUDY = "pyod-knn.digits.one-class.c0-1.s0"


def runs(results, kind):
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench")
    return client, client.search_runs([exp.experiment_id], f"tags.`bench.kind` = '{kind}'", max_results=1000)


def test_tune_logs_nested_trials_saves_best_and_run_uses_it(tmp_path, bench_main):
    res = bench_main("tune", "--method", "pyod-knn", "--classes", "0,1", "--trials", "6", "--results", "out")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out"
    best = json.loads((out / "tuned" / f"{STUDY}.json").read_text())
    assert best["method"] == "pyod-knn" and set(best["params"]) == {"n_neighbors", "method"}
    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{out / 'optuna.db'}")
    assert 0.5 < best["default_value"] <= 1 and study.user_attrs["default_val_auroc"] == best["default_value"]
    assert len(study.trials) == 6 and study.best_value == best["value"]
    _, (tune_run,) = runs(out, "tune")
    _, trials = runs(out, "trial")
    assert len(trials) == 6
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {tune_run.info.run_id}
    assert all("val_auroc" in t.data.metrics and "val_auroc_class_1" in t.data.metrics for t in trials)
    assert tune_run.data.metrics["best_val_auroc"] == best["value"]

    res = bench_main("run", "--methods", "pyod-knn", "--classes", "0,1", "--params-from", STUDY,
                  "--results", "out")  # fmt: skip
    assert res.returncode == 0, res.stderr
    _, cells = runs(out, "cell")
    assert len(cells) == 2
    for run in cells:
        assert run.data.tags["bench.tuned_from"] == STUDY
        assert run.data.params["n_neighbors"] == str(best["params"]["n_neighbors"])
    res = bench_main("leaderboard", "--results", "out")
    assert res.returncode == 0, res.stderr
    assert f"pyod-knn[tuned={STUDY}]" in pd.read_csv(out / "leaderboard.csv")["method"].tolist()


def test_killed_tune_resumes_the_same_study(tmp_path, bench_main):
    args = ["tune", "--method", "ae-threshold", "--set", "ae-threshold.epochs=2", "--classes", "0,1,2",
            "--results", "out"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *args, "--trials", "200"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    finished = 0  # a trial's line is printed just before Optuna stores its result
    deadline = time.monotonic() + 300
    while finished < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        finished += " COMPLETE " in line or " PRUNED " in line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert finished >= 4
    storage = f"sqlite:///{tmp_path / 'out' / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    before = optuna.load_study(study_name=name, storage=storage)
    kept = [t.number for t in before.trials if t.state.is_finished()]
    assert len(kept) >= 3

    res = bench_main(*args, "--trials", str(len(kept) + 2))  # the resume in this process: no 5 s start
    assert res.returncode == 0, res.stderr
    assert f"{len(kept)} of {len(kept) + 2} trials done" in res.stdout
    after = optuna.load_study(study_name=name, storage=storage)
    assert optuna.get_all_study_names(storage) == [name]
    assert [t.number for t in after.trials][: len(before.trials)] == [t.number for t in before.trials]
    counted = [t for t in after.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(counted) == len(kept) + 2
    _, trial_runs = runs(tmp_path / "out", "trial")  # each finished trial logged once, by the driver
    logged = [int(r.data.tags["trial"]) for r in trial_runs]
    assert len(logged) == len(set(logged))
    finished = {t.number for t in after.trials if t.state.is_finished()}
    assert {t.number for t in counted} <= set(logged) <= finished


def test_threshold_tuned_run_reports_own_tuned_and_oracle_f1(tmp_path, bench_main):
    res = bench_main("run", "--methods", "ae-threshold,pyod-pca", "--classes", "3", "--threshold", "tuned",
                  "--results", "out")  # fmt: skip
    assert res.returncode == 0, res.stderr
    _, cells = runs(tmp_path / "out", "cell")
    assert len(cells) == 2
    for run in cells:
        m, tags = run.data.metrics, run.data.tags
        assert tags["threshold_source"] == "method-rule" and tags["tuned_threshold_source"] == "val-pr-curve"
        assert {"f1", "tuned_f1", "tuned_threshold", "oracle_f1", "val_auroc"} <= set(m)
        assert m["oracle_f1"] >= max(m["f1"], m["tuned_f1"]) - 1e-9
    res = bench_main("leaderboard", "--results", "out")
    assert res.returncode == 0, res.stderr
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board["tuned_f1_mean"].notna().all() and board["oracle_f1_mean"].notna().all()
    by_method = {run.data.tags["method"]: run.data.metrics["val_auroc"] for run in cells}
    shown = dict(zip(board["method"], board["val_auroc_mean"], strict=True))
    assert shown == pytest.approx(by_method), "a row's validation AUROC, to choose rows by"
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert {"heatmap_digits_one-class.png", "roc_digits_one-class_class3.png"} <= figures


def test_choices_round_trip_through_optuna_storage():
    from bench.contract.space import Choice, Float, decode, suggest_all

    space = {"hidden": Choice(((32, 16), (64, 32))), "lr": Float(1e-4, 1e-2, log=True)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    seen = []
    study.optimize(lambda t: seen.append(suggest_all(t, space)) or 0.0, n_trials=5)
    assert all(v["hidden"] in space["hidden"].options for v in seen)
    assert decode(space, study.trials[0].params) == seen[0]
