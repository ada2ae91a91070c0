"""Normal-class protocols: a dataset and a class index become a train / val / test Split.

Each protocol is stated as data (which classes are normal, where anomalies come
from, how much is held out) and is deterministic for (dataset, protocol, class,
seed). Test images always come from the dataset's test part and train/val
images from its train part, so no test image can reach fitting or tuning.
Validation mirrors the test's anomaly ratio so thresholds chosen there transfer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.data import Dataset, Part, Split
from bench.errors import BenchError
from bench.registry import ANOMALY_LABELS, Registry

Indices = tuple[np.ndarray, np.ndarray]  # (dataset indices, anomaly labels)


@dataclass(frozen=True)
class ProtocolInfo:
    name: str
    provides: frozenset[str]
    summary: str


@dataclass(frozen=True)
class ProtocolOptions:
    """Knobs a protocol may read; all part of a cell's identity."""

    contamination: float = 0.0
    anomaly_ratio: float = 0.078


PROTOCOLS: Registry[Callable[..., tuple[Indices, Indices, Indices]]] = Registry("protocol")


def _protocol(name: str, provides: frozenset[str], summary: str):
    def decorate(fn):
        PROTOCOLS.add(ProtocolInfo(name, provides, summary), fn)
        return fn

    return decorate


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``key`` (same on every machine and Python)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _count_for_ratio(n_normal: int, ratio: float) -> int:
    return round(n_normal * ratio / (1.0 - ratio)) if ratio < 1 else n_normal


def _take(pool: np.ndarray, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    if n > len(pool):
        raise BenchError(f"protocol needs {n} {what} but only {len(pool)} are available")
    return pool[:n], pool[n:]


def _join(normal: np.ndarray, anomalous: np.ndarray, rng: np.random.Generator) -> Indices:
    idx = np.concatenate([normal, anomalous]).astype(np.int64)
    lab = np.concatenate([np.zeros(len(normal), np.int8), np.ones(len(anomalous), np.int8)])
    order = rng.permutation(len(idx))
    return idx[order], lab[order]


@_protocol("one-class", frozenset(), "class k normal, all others anomalous; train on class k only")
def one_class(y_train, y_test, k, rng, opts: ProtocolOptions):
    normal = rng.permutation(np.flatnonzero(y_train == k))
    others = rng.permutation(np.flatnonzero(y_train != k))
    n_val = max(1, round(0.1 * len(normal)))
    val_normal, train_normal = normal[:n_val], normal[n_val:]
    test_anom = (y_test != k).astype(np.int8)
    val_anom, others = _take(others, _count_for_ratio(n_val, test_anom.mean()), "val anomalies")
    contam, _ = _take(
        others, _count_for_ratio(len(train_normal), opts.contamination), "contaminating anomalies"
    )
    return (
        _join(train_normal, contam, rng),
        _join(val_normal, val_anom, rng),
        (np.arange(len(y_test)), test_anom),
    )


@_protocol("leave-one-out", frozenset(), "class k anomalous, all others normal")
def leave_one_out(y_train, y_test, k, rng, opts: ProtocolOptions):
    normal = rng.permutation(np.flatnonzero(y_train != k))
    anomalous = rng.permutation(np.flatnonzero(y_train == k))
    n_val = max(1, round(0.1 * len(normal)))
    test_anom = (y_test == k).astype(np.int8)
    val_anom, _ = _take(anomalous, _count_for_ratio(n_val, test_anom.mean()), "val anomalies")
    return (
        _join(normal[n_val:], normal[:0], rng),
        _join(normal[:n_val], val_anom, rng),
        (np.arange(len(y_test)), test_anom),
    )


def _labeled_pool(y, k, ratio, rng) -> tuple[np.ndarray, np.ndarray]:
    normal = rng.permutation(np.flatnonzero(y == k))
    others = rng.permutation(np.flatnonzero(y != k))
    anomalous, _ = _take(others, _count_for_ratio(len(normal), ratio), "labeled anomalies")
    return normal, anomalous


def _hold_out(normal, anomalous, fraction, rng) -> tuple[Indices, Indices]:
    """Stratified hold-out: the same fraction of normals and anomalies goes to val."""
    n_vn, n_va = max(1, round(fraction * len(normal))), round(fraction * len(anomalous))
    return (
        _join(normal[n_vn:], anomalous[n_va:], rng),
        _join(normal[:n_vn], anomalous[:n_va], rng),
    )


@_protocol(
    "supervised",
    frozenset({ANOMALY_LABELS}),
    "class k normal plus labeled anomalies from other classes at ratio r (default 0.078)",
)
def supervised(y_train, y_test, k, rng, opts: ProtocolOptions):
    train, val = _hold_out(*_labeled_pool(y_train, k, opts.anomaly_ratio, rng), 0.1, rng)
    return train, val, _join(*_labeled_pool(y_test, k, opts.anomaly_ratio, rng), rng)


@_protocol(
    "balanced",
    frozenset({ANOMALY_LABELS}),
    "class k normal plus as many anomalies from other classes; 80/20 train/val",
)
def balanced(y_train, y_test, k, rng, opts: ProtocolOptions):
    train, val = _hold_out(*_labeled_pool(y_train, k, 0.5, rng), 0.2, rng)
    return train, val, _join(*_labeled_pool(y_test, k, 0.5, rng), rng)


def protocol_info(name: str) -> ProtocolInfo:
    return PROTOCOLS.get(name)[0]


def make_split(
    dataset: Dataset, protocol: str, k: int, seed: int, opts: ProtocolOptions = ProtocolOptions()
) -> Split:
    """The deterministic Split of ``dataset`` under ``protocol`` for class ``k`` and ``seed``."""
    _, fn = PROTOCOLS.get(protocol)
    if not 0 <= k < dataset.n_classes:
        raise BenchError(f"class {k} is out of range for {dataset.name} (0..{dataset.n_classes - 1})")
    if not 0.0 <= opts.contamination < 1.0 or not 0.0 < opts.anomaly_ratio < 1.0:
        raise BenchError("contamination must be in [0, 1) and anomaly ratio in (0, 1)")
    rng = rng_for(dataset.name, protocol, k, seed, opts.contamination, opts.anomaly_ratio)
    parts = fn(dataset.y_train, dataset.y_test, k, rng, opts)
    sources = ("train", "train", "test")
    built = [_part(dataset, src, idx, lab) for src, (idx, lab) in zip(sources, parts, strict=True)]
    return Split(*built)


def _part(dataset: Dataset, source: str, index: np.ndarray, anomaly: np.ndarray) -> Part:
    x, y = dataset.part(source)
    images = x[index].astype(np.float32)
    images /= 255.0
    return Part(x=images, anomaly=anomaly, classes=y[index], index=index, source=source)
