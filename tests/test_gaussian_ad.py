"""gaussian-ad and the extractor it reads: every level of a backbone, pooled, keyed apart from the
head's features, and Mahalanobis distances summed over the levels as the paper defines them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("efficientnet_lite_pytorch")

from scipy.spatial.distance import mahalanobis
from sklearn.covariance import LedoitWolf

from bench.contract.method import Env
from bench.data.dataset import TrainData
from bench.nets.features import Extractor, FeatureCache, extract
from bench.registry import METHODS


@pytest.fixture(scope="module")
def images(digits):
    return digits.x_train[:80], digits.y_train[:80], digits.x_test[:30], digits.y_test[:30]


def test_levels_are_the_stem_each_stage_and_the_head_whose_last_is_the_whole_network_s(images):
    x = images[0][:12]
    levels = Extractor("efficientnet-lite2", 32, levels=True)
    got = extract(levels, x)
    widths = levels.widths()
    assert widths == (32, 16, 24, 48, 88, 120, 208, 352, 1280), "stem, seven stages, head (Lite2's widths)"
    assert got.shape == (12, sum(widths))
    whole = extract(Extractor("efficientnet-lite2", 32), x)
    np.testing.assert_allclose(got[:, -1280:], whole, rtol=1e-5, atol=1e-5)


def test_level_features_have_their_own_key(tmp_path, digits):
    cache = FeatureCache(tmp_path)
    levels = Extractor("efficientnet-lite0", 32, levels=True)
    others = [Extractor("efficientnet-lite0", 32), Extractor("efficientnet-lite0", 32, until_stride=16)]
    others += [dataclasses.replace(levels, resolution=48), dataclasses.replace(levels, dtype="float16")]
    keys = {cache.key(e, digits, "test") for e in [levels, *others]}
    assert len(keys) == 5
    with pytest.raises(ValueError, match="not both"):
        Extractor("efficientnet-lite0", 32, until_stride=16, levels=True)


def test_the_score_is_the_sum_over_levels_of_each_level_s_mahalanobis_distance(images):
    """Known answer: per level, Ledoit-Wolf's covariance inverted and scipy's distance, summed;
    images given directly and their cached features give the same scores."""
    x, y, queries, labels = images
    normal = x[y == 0]
    method = METHODS.get("gaussian-ad")[1](resolution=32)
    env = Env(device="cpu", seed=0)
    method.fit(TrainData(x=normal), env)
    scores = method.score(queries)
    extractor = method.extractor()
    train, test = (
        extract(extractor, normal).astype(np.float64),
        extract(extractor, queries).astype(np.float64),
    )
    expected = np.zeros(len(queries))
    start = 0
    for width in extractor.widths():
        cut = slice(start, start + width)
        start += width
        fit = LedoitWolf().fit(train[:, cut])
        inverse = np.linalg.inv(fit.covariance_)
        expected += [mahalanobis(q, fit.location_, inverse) for q in test[:, cut]]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    from_features = METHODS.get("gaussian-ad")[1](resolution=32).fit(
        TrainData(x=train.astype(np.float32)), env
    )
    np.testing.assert_allclose(from_features.score(test.astype(np.float32)), scores, rtol=1e-6)
    assert scores[labels == 0].max() < np.median(scores[labels != 0]), "the normal class scores lowest"
