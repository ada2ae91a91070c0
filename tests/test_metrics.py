"""bench's metric functions agree with scikit-learn on random, tied and edge-case data."""

import numpy as np
import pytest
from sklearn import metrics as skm

from bench.scoring.metrics import METRICS, at_threshold, auprc, auroc, detection_metrics, roc_points


def cases():
    rng = np.random.default_rng(0)
    for n, p in ((50, 0.1), (500, 0.5), (1000, 0.9), (37, 0.3)):
        y = (rng.random(n) < p).astype(int)
        y[0], y[1] = 0, 1
        yield y, rng.normal(size=n) + y  # continuous scores
        yield y, np.round(rng.normal(size=n) + y, 1)  # many ties
        yield y, rng.integers(0, 3, size=n).astype(float)  # massive ties


@pytest.mark.parametrize("y,s", list(cases()))
def test_threshold_free_metrics_match_sklearn(y, s):
    assert auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    fpr, tpr = roc_points(y, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, atol=1e-12)


@pytest.mark.parametrize("y,s", list(cases()))
def test_thresholded_metrics_match_sklearn(y, s):
    for thr in np.quantile(s, [0.1, 0.5, 0.9]):
        pred = (s > thr).astype(int)
        got = at_threshold(y, s, thr)
        assert got.f1 == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert got.precision == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        assert got.recall == pytest.approx(skm.recall_score(y, pred, zero_division=0))
        assert got.accuracy == pytest.approx(skm.accuracy_score(y, pred))


def test_perfect_and_inverted_scores():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auroc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert auroc(y, np.ones(4)) == 0.5


def test_one_class_labels_give_nan_not_a_crash():
    assert np.isnan(auroc(np.zeros(5), np.arange(5.0)))
    assert np.isnan(auprc(np.zeros(5), np.arange(5.0)))


def test_flags_strictly_above_threshold():
    got = at_threshold(np.array([0, 1]), np.array([0.5, 0.5]), 0.5)
    assert got.recall == 0.0 and got.accuracy == 0.5


def test_detection_metrics_names():
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.7])
    threshold_free = {m.key for m in METRICS if m.score is not None}  # every one declared, nothing else
    assert {"auroc", "auprc", "oracle_f1"} <= threshold_free
    assert set(detection_metrics(y, s, None)) == threshold_free
    assert set(detection_metrics(y, s, 0.5)) == threshold_free | {
        "f1",
        "precision",
        "recall",
        "accuracy",
        "threshold",
    }
    with pytest.raises(ValueError):
        auroc(y, s[:3])
