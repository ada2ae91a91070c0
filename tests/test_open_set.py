"""Open-set answers: classification metrics against scikit-learn, heads that learn, and an end-to-end run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import classification_report, f1_score

from bench.scoring.heads import HEADS, train_head
from bench.scoring.metrics import macro_f1, per_class


@pytest.mark.parametrize("seed", range(3))
def test_per_class_and_macro_f1_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.choice([0, 1, 2, 3, -1], 300)
    pred = np.where(rng.random(300) < 0.6, truth, rng.choice([0, 1, 2, 3, -1], 300))
    labels = [0, 1, 2, 3, -1]
    ours = per_class(truth, pred, labels)
    theirs = classification_report(truth, pred, labels=labels, output_dict=True, zero_division=0)
    for label in labels:
        for field in ("precision", "recall", "f1"):
            key = "f1-score" if field == "f1" else field
            assert np.isclose(getattr(ours[label], field), theirs[str(label)][key])
        assert ours[label].support == theirs[str(label)]["support"]
    assert np.isclose(macro_f1(truth, pred, labels), f1_score(truth, pred, labels=labels, average="macro"))


@pytest.mark.parametrize("name", sorted(HEADS))
def test_heads_learn_separable_classes(name):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4, size=(5, 16))
    y = rng.integers(0, 5, 500)
    x = centres[y] + rng.normal(size=(500, 16))
    head = train_head(HEADS[name], x[:400], y[:400], 5, seed=0, device="cpu")
    predicted = head.predict(x[400:])
    assert (predicted == y[400:]).mean() > 0.95
    assert predicted.max() < 5, "the unknown output is never a training target"


@pytest.mark.slow
def test_open_set_run_logs_classification_and_the_report(tmp_path, bench_main):
    res = bench_main("run", "--methods", "vae-elbo,pyod-pca", "--protocols", "open-set", "--classes", "0",
                  "--labels", "20", "--results", "out")  # fmt: skip
    assert res.returncode == 0, res.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench")
    runs = {
        r.data.tags["method"]: r for r in client.search_runs([exp.experiment_id], "tags.`bench.kind`='cell'")
    }
    vae = runs["vae-elbo"].data.metrics
    assert vae["n_labeled"] == 20 and 0.5 < vae["class_accuracy"] <= 1
    assert {"class_macro_f1", "class_accuracy_accepted", "open_set_accuracy", "open_set_macro_f1"} <= set(vae)
    assert vae["class_accuracy_labeled"] > vae["class_accuracy"]  # 20 images the head trained on, not test
    assert "class_accuracy" not in runs["pyod-pca"].data.metrics  # no encoder, no classification
    path = client.download_artifacts(runs["vae-elbo"].info.run_id, "open_set_report.json", str(tmp_path))
    report = pd.read_json(path, orient="split")
    assert report["class"].tolist() == ["0", "1", "2", "3", "4", "unknown", "accuracy"]
    assert report["support"].iloc[:6].sum() == report["support"].iloc[6]
    res = bench_main("leaderboard", "--results", "out", "--no-roc")
    assert res.returncode == 0, res.stderr
    assert "Open-set classification" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_elbow_picks_the_bend_of_an_inertia_curve():
    from bench.methods.vae_cluster import elbow

    curve = [100, 50, 20, 15, 12, 10, 9, 8]  # drops steeply until index 2, then flattens
    assert elbow(curve) == 2


def test_fine_tuning_the_head_leaves_the_detector_untouched(digits):
    from bench.contract.method import Env
    from bench.data.protocol import make_split
    from bench.registry import METHODS
    from bench.scoring.open_set_scores import classify
    from bench.sweep.fit_score import train_data

    info, cls = METHODS.get("ae-threshold")
    split = make_split(digits, "open-set", 0, seed=0)
    method = cls(epochs=5).fit(train_data(split, info.needs), Env(seed=0))
    before = method.score(split.test.x)
    metrics, report = classify(method, split, before, method.threshold(), Env(seed=0))
    np.testing.assert_array_equal(method.score(split.test.x), before)
    assert 0 <= metrics["class_accuracy"] <= 1 and report["support"].iloc[-1] == len(split.test)


def test_the_head_on_40_labeled_digits_classifies_well_above_chance(digits):
    """Seed 001's pipeline on digits' scaled open-set: 8 labels a class, the head keeps 1,890 steps."""
    from bench.contract.method import Env
    from bench.data.protocol import make_split
    from bench.registry import METHODS
    from bench.sweep.fit_score import run_cell

    info, cls = METHODS.get("ae-threshold")
    split = make_split(digits, "open-set", 0, seed=0)
    result = run_cell(cls(), info.needs, split, Env(seed=0), classify=True)
    assert result.ok, result.detail
    assert result.metrics["n_labeled"] == 40
    assert result.metrics["class_accuracy"] > 0.75, result.metrics  # chance 0.2; 30 epochs alone gave 0.33


def test_a_schedule_stretches_in_whole_multiples_of_its_epochs():
    from bench.nets.training import stretched_epochs

    assert stretched_epochs(30, 63, 1890) == 30, "FashionMNIST's 2,000 labels: the reports' 30 epochs"
    assert stretched_epochs(30, 2, 1890) == 30 * 32, "40 labels: 2 steps an epoch"
    assert stretched_epochs(5, 10, None) == 5
