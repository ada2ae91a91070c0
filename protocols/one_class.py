"""One-class: class k is normal and every other class anomalous; train on class k alone."""

from __future__ import annotations

import numpy as np

from bench.api import ProtocolOptions, count_for_ratio, join, register_protocol, take


@register_protocol(
    "one-class",
    frozenset(),
    "class k normal, all others anomalous; train on class k only",
    options=("contamination",),
)
def one_class(y_train, y_test, k, rng, opts: ProtocolOptions):
    normal = rng.permutation(np.flatnonzero(y_train == k))
    others = rng.permutation(np.flatnonzero(y_train != k))
    n_val = max(1, round(0.1 * len(normal)))
    val_normal, train_normal = normal[:n_val], normal[n_val:]
    test_anom = (y_test != k).astype(np.int8)
    val_anom, others = take(others, count_for_ratio(n_val, test_anom.mean()), "val anomalies")
    contam, _ = take(
        others, count_for_ratio(len(train_normal), opts.contamination), "contaminating anomalies"
    )
    return (
        join(train_normal, contam, rng),
        join(val_normal, val_anom, rng),
        (np.arange(len(y_test)), test_anom),
    )
