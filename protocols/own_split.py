"""Own split: datasets that bring their own train and test parts (defect datasets in the MVTec AD
layout). Category k trains on its good training images and tests on its own test folder, good and
defective; validation is good training images held out, so no defect is seen before the test (and
a threshold can only come from a method's own rule, never from validation)."""

from __future__ import annotations

import numpy as np

from bench.api import ProtocolOptions, join, register_protocol


@register_protocol(
    "own-split",
    frozenset(),
    "category k: train on its good images, test on its own test folder (good and defective)",
    own_split=True,
)
def own_split(y_train, y_test, k, rng, opts: ProtocolOptions, test_anomaly: np.ndarray):
    normal = rng.permutation(np.flatnonzero(y_train == k))
    n_val = max(1, round(0.1 * len(normal)))
    test = np.flatnonzero(y_test == k)
    return (
        join(normal[n_val:], normal[:0], rng),
        join(normal[:n_val], normal[:0], rng),
        (test, test_anomaly[test].astype(np.int8)),
    )
