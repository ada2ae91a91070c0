"""Leave-one-out: class k is the anomaly and every other class normal."""

from __future__ import annotations

import numpy as np

from bench.api import ProtocolOptions, count_for_ratio, join, register_protocol, take


@register_protocol("leave-one-out", frozenset(), "class k anomalous, all others normal", normal="not {k}")
def leave_one_out(y_train, y_test, k, rng, opts: ProtocolOptions):
    normal = rng.permutation(np.flatnonzero(y_train != k))
    anomalous = rng.permutation(np.flatnonzero(y_train == k))
    n_val = max(1, round(0.1 * len(normal)))
    test_anom = (y_test == k).astype(np.int8)
    val_anom, _ = take(anomalous, count_for_ratio(n_val, test_anom.mean()), "val anomalies")
    return (
        join(normal[n_val:], normal[:0], rng),
        join(normal[:n_val], val_anom, rng),
        (np.arange(len(y_test)), test_anom),
    )
