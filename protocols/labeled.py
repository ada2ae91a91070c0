"""Protocols whose training data carries anomaly labels: supervised (at a ratio) and balanced."""

from __future__ import annotations

from bench.api import ANOMALY_LABELS, ProtocolOptions, hold_out, join, labeled_pool, register_protocol


@register_protocol(
    "supervised",
    frozenset({ANOMALY_LABELS}),
    "class k normal plus labeled anomalies from other classes at ratio r (default 0.078)",
    options=("anomaly_ratio",),
)
def supervised(y_train, y_test, k, rng, opts: ProtocolOptions):
    train, val = hold_out(*labeled_pool(y_train, k, opts.anomaly_ratio, rng), 0.1, rng)
    return train, val, join(*labeled_pool(y_test, k, opts.anomaly_ratio, rng), rng)


@register_protocol(
    "balanced",
    frozenset({ANOMALY_LABELS}),
    "class k normal plus as many anomalies from other classes; 80/20 train/val",
)
def balanced(y_train, y_test, k, rng, opts: ProtocolOptions):
    train, val = hold_out(*labeled_pool(y_train, k, 0.5, rng), 0.2, rng)
    return train, val, join(*labeled_pool(y_test, k, 0.5, rng), rng)
