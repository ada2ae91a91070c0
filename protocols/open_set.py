"""Open-set: known classes normal, unknown ones anomalous, with a few labeled normals to classify."""

from __future__ import annotations

import numpy as np

from bench.api import (
    LABELED_SET,
    BenchError,
    ProtocolOptions,
    Share,
    count_for_ratio,
    join,
    register_protocol,
    take,
)

# Seeds 000/001 on FashionMNIST: of 30,000 known-class training images, 26,000 form the
# unlabeled pool and 2,000 the labeled set; test sets of 1,000 known + 52 unknown, padded to
# 32x32. Smaller datasets: docs/protocols.md (the seeds' shares, all images used).
OPEN_SET_POOL = Share(26000, 26000 / 30000)  # of the known classes' training images
OPEN_SET_LABELED = Share(2000, 2000 / 30000)
OPEN_SET_KNOWN = Share(1000, 0.5)  # of the known classes' test images, per test set (two sets)
OPEN_SET_UNKNOWN = 52  # per 1,000 known test images


def _open_set_seed_sizes(opts: ProtocolOptions) -> dict[str, int]:
    return {
        "train_normal": OPEN_SET_POOL.count,
        "labeled": min(opts.labels, OPEN_SET_LABELED.count),
        "test_normal": OPEN_SET_KNOWN.count,
        "test_anomalous": OPEN_SET_UNKNOWN,
    }


@register_protocol(
    "open-set",
    frozenset({LABELED_SET}),
    "5 known classes normal, 5 unknown anomalous (~5%); train on the unlabeled pool, classify with "
    "a few labels; 2 test sets; images padded by 2 pixels (28x28 -> 32x32)",
    test_sets=2,
    pad=2,
    classify=True,
    options=("known_classes", "labels", "min_test"),
    normal="known classes{known}",
    seed_sizes=_open_set_seed_sizes,
)
def open_set(y_train, y_test, k, rng, opts: ProtocolOptions):
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    known = list(opts.known_classes or range(n_classes // 2))
    is_known_tr, is_known_te = np.isin(y_train, known), np.isin(y_test, known)
    train_known = rng.permutation(np.flatnonzero(is_known_tr))
    n_pool = OPEN_SET_POOL.of(len(train_known))
    pool, rest = take(train_known, n_pool, "pool images")
    share = OPEN_SET_LABELED.of(len(train_known)) // len(known)  # the labeled set at most, per class
    per_class = min(opts.labels, OPEN_SET_LABELED.of(len(train_known))) // len(known)
    if per_class < 1:
        raise BenchError(f"--labels {opts.labels} gives no labeled image per known class")
    candidates = [rest[y_train[rest] == c][:share] for c in known]
    labeled = np.concatenate([take(c, per_class, "labeled images")[0] for c in candidates])
    if n_pool < OPEN_SET_POOL.count:  # a smaller dataset: the seeds' unused images join the pool
        pool = np.concatenate([pool, np.setdiff1d(rest, np.concatenate(candidates))])
    test_known = rng.permutation(np.flatnonzero(is_known_te))
    test_unknown = rng.permutation(np.flatnonzero(~is_known_te))
    n_known = OPEN_SET_KNOWN.of(len(test_known))
    n_unknown = max(1, opts.min_test, round(OPEN_SET_UNKNOWN * n_known / OPEN_SET_KNOWN.count))
    n_unknown = min(n_unknown, len(test_unknown) // 2)
    known_sets, _ = take(test_known, 2 * n_known, "known test images")
    unknown_sets, _ = take(test_unknown, 2 * n_unknown, "unknown test images")
    # Test set k: its own disjoint slice of one draw that does not depend on k.
    test = join(
        known_sets[k * n_known : (k + 1) * n_known], unknown_sets[k * n_unknown : (k + 1) * n_unknown], rng
    )
    val_unknown, _ = take(
        rng.permutation(np.flatnonzero(~is_known_tr)),
        count_for_ratio(len(labeled), n_unknown / (n_known + n_unknown)),
        "unknown validation images",
    )
    return join(pool, pool[:0], rng), join(labeled, val_unknown, rng), test
