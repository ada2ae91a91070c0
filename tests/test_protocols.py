"""Every protocol: no test image reaches train or val, sizes and ratios as stated, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.protocol import ProtocolOptions, make_split, protocol_info, protocol_units
from bench.errors import BenchError, UnknownNameError
from bench.registry import PROTOCOLS
from bench.sweep.sizes import split_sizes, too_small

# Class protocols (own-split protocols read a defect dataset: tests/test_defects.py).
ALL = [name for name in PROTOCOLS.names() if not protocol_info(name).own_split]


def check_no_leak(ds, split):
    assert split.train.source == split.val.source == "train"
    assert split.test.source == "test"
    assert not set(split.train.index) & set(split.val.index), "train and val share images"
    assert len(set(split.train.index)) == len(split.train), "duplicate train images"
    for part in (split.train, split.val, split.test):
        x, y = ds.part(part.source)
        pad = (part.x.shape[-1] - x.shape[-1]) // 2  # open-set pads every side
        inner = part.x[..., pad : part.x.shape[-2] - pad, pad : part.x.shape[-1] - pad]
        np.testing.assert_array_equal(inner, x[part.index].astype(np.float32) / 255)
        if pad:
            border = part.x.copy()
            border[..., pad:-pad, pad:-pad] = 0
            assert not border.any(), "padding must be blank"
        np.testing.assert_array_equal(part.classes, y[part.index])
    # No test image content in train/val either (guards against a source mix-up).
    test_bytes = {row.tobytes() for row in ds.x_test[split.test.index]}
    train_side = np.concatenate([split.train.index, split.val.index])
    overlap = sum(row.tobytes() in test_bytes for row in ds.x_train[train_side])
    assert overlap <= 2, f"{overlap} train/val images identical to test images"


def truly_anomalous(protocol: str, k: int, classes: np.ndarray) -> np.ndarray:
    if protocol == "leave-one-out":
        return classes == k
    if protocol == "open-set":
        return classes >= 5  # known classes 0-4 by default
    return classes != k


@pytest.mark.parametrize("protocol", ALL)
def test_digits_every_class(digits, protocol):
    for k in protocol_units(protocol_info(protocol), digits.n_classes):
        split = make_split(digits, protocol, k, seed=0)
        check_no_leak(digits, split)
        np.testing.assert_array_equal(
            split.test.anomaly.astype(bool), truly_anomalous(protocol, k, split.test.classes)
        )
        test_ratio = split.test.anomaly.mean()
        assert abs(split.val.anomaly.mean() - test_ratio) < 0.08  # small counts on digits


@pytest.mark.parametrize("protocol", ALL)
def test_same_seed_same_split_other_seed_other_split(digits, protocol):
    a, b = make_split(digits, protocol, 1, seed=0), make_split(digits, protocol, 1, seed=0)
    c = make_split(digits, protocol, 1, seed=1)
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, name).index, getattr(b, name).index)
    assert not np.array_equal(a.train.index, c.train.index)


def test_fashion_one_class(fashion):
    split = make_split(fashion, "one-class", 2, seed=0)
    check_no_leak(fashion, split)
    assert (len(split.train), split.train.n_anomalies) == (5400, 0)
    assert set(split.train.classes) == {2}
    assert (len(split.val), split.val.n_anomalies) == (6000, 5400)
    assert (len(split.test), split.test.n_anomalies) == (10000, 9000)


def test_fashion_one_class_contaminated(fashion):
    split = make_split(fashion, "one-class", 0, seed=0, opts=ProtocolOptions(contamination=0.1))
    check_no_leak(fashion, split)
    assert split.train.n_anomalies == 600 and len(split.train) == 6000
    assert not set(split.train.index[split.train.anomaly == 1]) & set(split.val.index)


def test_fashion_leave_one_out_sandals(fashion):
    split = make_split(fashion, "leave-one-out", 5, seed=0)
    check_no_leak(fashion, split)
    assert 5 not in set(split.train.classes) and len(split.train) == 48600
    assert (len(split.val), split.val.n_anomalies) == (6000, 600)
    assert (len(split.test), split.test.n_anomalies) == (10000, 1000)


def test_fashion_supervised(fashion):
    split = make_split(fashion, "supervised", 0, seed=0)
    check_no_leak(fashion, split)
    assert len(split.train) + len(split.val) == 6000 + 508  # 0.078 of the pool are anomalies
    assert (len(split.test), split.test.n_anomalies) == (1085, 85)
    for part in (split.train, split.val):
        assert part.anomaly.mean() == pytest.approx(0.078, abs=0.003)


def test_fashion_balanced(fashion):
    split = make_split(fashion, "balanced", 0, seed=0)
    check_no_leak(fashion, split)
    assert (len(split.train), len(split.val), len(split.test)) == (9600, 2400, 2000)
    for part in (split.train, split.val, split.test):
        assert part.anomaly.mean() == 0.5


def test_fashion_open_set_seed_sizes(fashion):
    """Seeds 000/001: 26,000 unlabeled known-class images; test sets of 1,000 known + 52 unknown."""
    a, b = make_split(fashion, "open-set", 0, seed=0), make_split(fashion, "open-set", 1, seed=0)
    for split in (a, b):
        check_no_leak(fashion, split)
        assert (len(split.train), split.train.n_anomalies) == (26000, 0)
        assert set(split.train.classes) == {0, 1, 2, 3, 4}
        assert (len(split.test), split.test.n_anomalies) == (1052, 52)
        assert len(split.val) - split.val.n_anomalies == 2000
        assert not set(split.val.index) & set(split.train.index)
    assert not set(a.test.index) & set(b.test.index), "the two test sets overlap"
    np.testing.assert_array_equal(a.train.index, b.train.index)
    custom = make_split(fashion, "open-set", 0, seed=0, opts=ProtocolOptions(known_classes=(5, 6, 7, 8, 9)))
    assert set(custom.train.classes) == {5, 6, 7, 8, 9}
    assert a.train.x.shape[1:] == (1, 32, 32), "the reports padded 28x28 to 32x32"


def test_open_set_labeled_set_is_even_and_shrinks_without_moving_the_rest(fashion):
    full = make_split(fashion, "open-set", 0, seed=0)
    few = make_split(fashion, "open-set", 0, seed=0, opts=ProtocolOptions(labels=50))
    labeled = few.val.classes[few.val.anomaly == 0]
    assert np.bincount(labeled, minlength=5)[:5].tolist() == [10] * 5
    assert np.bincount(full.val.classes[full.val.anomaly == 0], minlength=5)[:5].tolist() == [400] * 5
    np.testing.assert_array_equal(few.train.index, full.train.index)
    np.testing.assert_array_equal(few.test.index, full.test.index)
    with pytest.raises(BenchError, match="no labeled image"):
        make_split(fashion, "open-set", 0, seed=0, opts=ProtocolOptions(labels=3))


def test_bad_inputs(digits):
    with pytest.raises(UnknownNameError, match="one-class"):
        make_split(digits, "one-clas", 0, 0)
    with pytest.raises(BenchError, match="out of range"):
        make_split(digits, "one-class", 10, 0)
    with pytest.raises(BenchError, match="test set 2 is out of range"):
        make_split(digits, "open-set", 2, 0)
    with pytest.raises(BenchError, match="contamination"):
        make_split(digits, "one-class", 0, 0, ProtocolOptions(contamination=1.5))


def test_digits_open_set_scales_by_the_rule(digits):
    """Digits keeps the seeds' shares, uses every known-class image, and holds 10 unknowns a test set."""
    a, b = make_split(digits, "open-set", 0, seed=0), make_split(digits, "open-set", 1, seed=0)
    known_train = int(np.isin(digits.y_train, range(5)).sum())
    labeled = a.val.classes[a.val.anomaly == 0]
    assert np.bincount(labeled, minlength=5)[:5].tolist() == [8] * 5  # 2/30 of 631, evenly
    assert len(a.train) + len(labeled) == known_train, "every known-class training image is used"
    assert (len(a.test) - a.test.n_anomalies, a.test.n_anomalies) == (135, 10)  # half the known test images
    assert not set(a.test.index) & set(b.test.index)
    few = make_split(digits, "open-set", 0, seed=0, opts=ProtocolOptions(labels=20))
    np.testing.assert_array_equal(few.train.index, a.train.index)  # label budgets share one pool
    more = make_split(digits, "open-set", 0, seed=0, opts=ProtocolOptions(min_test=20))
    assert more.test.n_anomalies == 20


@pytest.mark.parametrize("protocol", ALL)
def test_planned_sizes_are_the_split_sizes(digits, protocol):
    opts = ProtocolOptions()
    for k in protocol_units(protocol_info(protocol), digits.n_classes)[:3]:
        split = make_split(digits, protocol, k, seed=0, opts=opts)
        sizes = split_sizes(digits, protocol, k, 0, opts)
        assert sizes == split.sizes(labeled_set=protocol == "open-set")
        assert sizes.params()["n_test"] == len(split.test)


def test_too_small_names_what_is_short():
    from bench.data.dataset import Sizes

    assert too_small(Sizes(100, 0, 10, 1, 53, 4), 10) == (
        "its test split holds 4 anomalies (fewer than --min-test 10)"
    )
    assert too_small(Sizes(100, 0, 10, 1, 9, 9), 10).endswith(
        "holds 9 anomalies and 9 normal images (fewer than --min-test 10)"
    )
    assert too_small(Sizes(100, 0, 10, 1, 53, 4), 4) is None
