"""Thresholds tuned on validation: exact PR-curve search, Optuna for score parameters, fallbacks,
and proof that test data never reaches the tuner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bench.contract.method import Env
from bench.contract.space import Float
from bench.data.protocol import make_split
from bench.registry import METHODS
from bench.scoring.metrics import at_threshold, best_f1
from bench.scoring.thresholds import NORMAL_RULE_K, tune_threshold
from bench.sweep.fit_score import run_cell


def brute_force_best_f1(y, s):
    cuts = np.r_[np.unique(s), -np.inf]
    return max(at_threshold(y, s, c).f1 for c in cuts)


@pytest.mark.parametrize("seed", range(5))
def test_best_f1_is_the_exact_maximum_and_its_threshold_reaches_it(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(300) < 0.1
    s = np.round(rng.normal(size=300) + 1.5 * y, 1)  # many ties
    f1, threshold = best_f1(y, s)
    assert np.isclose(f1, brute_force_best_f1(y, s))
    assert np.isclose(at_threshold(y, s, threshold).f1, f1)


def test_lone_threshold_comes_from_the_validation_pr_curve():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.2
    s = rng.normal(size=500) + 2 * y
    tuned = tune_threshold(lambda: s, y)
    assert tuned.source == "val-pr-curve" and tuned.params == {}
    assert np.isclose(tuned.val_f1, brute_force_best_f1(y, s))
    assert np.isclose(tuned.val_auroc, roc_auc_score(y, s)), "validation's AUROC, to choose rows by"


def test_no_validation_anomalies_falls_back_to_a_normal_rule_not_the_minimum():
    s = np.random.default_rng(1).normal(size=400)
    tuned = tune_threshold(lambda: s, np.zeros(400, bool))
    assert tuned.source == "val-normal-rule"
    assert np.isclose(tuned.threshold, s.mean() + NORMAL_RULE_K * s.std())
    assert (s > tuned.threshold).mean() < 0.01  # flags almost nothing, never everything
    assert np.isnan(tuned.val_auroc)


def test_optuna_searches_score_parameters_jointly_and_is_seeded():
    rng = np.random.default_rng(2)
    y = rng.random(600) < 0.15
    useful, noise = rng.normal(size=600) + 2.5 * y, rng.normal(size=600) * 3

    def scorer(w: float = 0.5) -> np.ndarray:
        return w * useful + (1 - w) * noise

    space = {"w": Float(0.0, 1.0)}
    a = tune_threshold(scorer, y, space, seed=3, trials=30)
    b = tune_threshold(scorer, y, space, seed=3, trials=30)
    assert a == b and a.source == "val-optuna"
    assert a.params["w"] > 0.7  # the informative signal wins
    assert a.val_f1 > tune_threshold(lambda: scorer(), y).val_f1
    assert np.isclose(a.val_auroc, roc_auc_score(y, scorer())), "the method's own scores, as the row's AUROC"


@pytest.mark.slow
@pytest.mark.parametrize("name,params", [("ae-kde", {"epochs": 3}), ("ae-threshold", {"epochs": 3})])
def test_test_data_cannot_change_what_the_tuner_chooses(digits, name, params):
    """Same train and validation, a different test set: identical tuned threshold and parameters."""
    info, cls = METHODS.get(name)
    split = make_split(digits, "one-class", 2, seed=0)
    rng = np.random.default_rng(0)
    shuffled = dataclasses.replace(
        split.test, x=split.test.x[rng.permutation(len(split.test))], anomaly=1 - split.test.anomaly
    )
    results = [
        run_cell(cls(**params), info.needs, s, Env(seed=0), "tuned")
        for s in (split, dataclasses.replace(split, test=shuffled))
    ]
    assert all(r.ok for r in results), [r.detail for r in results]
    first, second = (r.tuned for r in results)
    assert first == second
    assert first.source == ("val-optuna" if cls.score_space else "val-pr-curve")
    assert results[0].metrics["tuned_f1"] != results[1].metrics["tuned_f1"]  # the test data did differ
    m = results[0].metrics
    assert m["oracle_f1"] >= m["f1"] - 1e-12  # the oracle bounds the own rule on the same scores


@pytest.mark.slow
def test_cell_without_validation_anomalies_reports_the_fallback(digits):
    info, cls = METHODS.get("ae-threshold")
    split = make_split(digits, "one-class", 4, seed=0)
    keep = split.val.anomaly == 0
    val = dataclasses.replace(
        split.val, x=split.val.x[keep], anomaly=split.val.anomaly[keep], classes=split.val.classes[keep],
        index=split.val.index[keep],
    )  # fmt: skip
    result = run_cell(cls(epochs=3), info.needs, dataclasses.replace(split, val=val), Env(seed=0), "tuned")
    assert result.ok, result.detail
    assert result.tuned.source == "val-normal-rule"
    flag_all = at_threshold(split.test.anomaly, result.scores, -np.inf).f1
    assert result.metrics["tuned_recall"] < 1.0 and result.metrics["tuned_f1"] != flag_all
