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
from bench.registry import ANOMALY_LABELS, LABELED_SET, Registry

Indices = tuple[np.ndarray, np.ndarray]  # (dataset indices, anomaly labels)


@dataclass(frozen=True)
class ProtocolInfo:
    name: str
    provides: frozenset[str]
    summary: str
    test_sets: int | None = None  # cells are numbered test sets instead of classes
    pad: int = 0  # blank pixels added on every side of every image
    classify: bool = False  # the labeled normal images of validation also train a classifier
    options: tuple[str, ...] = ()  # the ProtocolOptions fields it reads
    normal: str = "{k}"  # what is normal in cell k ({known}: the known classes, where given)
    # The sizes the seed reports used (Sizes field -> count) under the given options, where the
    # protocol has absolute sizes: a split of other sizes was scaled to its dataset.
    seed_sizes: Callable[[ProtocolOptions], dict[str, int]] | None = None


def protocol_units(info: ProtocolInfo, n_classes: int) -> list[int]:
    """What ``--classes all`` means for a protocol: every class, or every test set."""
    return list(range(info.test_sets if info.test_sets else n_classes))


@dataclass(frozen=True)
class ProtocolOptions:
    """Knobs a protocol may read; all part of a cell's identity."""

    contamination: float = 0.0
    anomaly_ratio: float = 0.078
    known_classes: tuple[int, ...] | None = None  # open-set; None = the first half of the classes
    labels: int = 2000  # open-set: size of the labeled set, drawn evenly from the known classes
    min_test: int = (
        10  # fewest anomalies and normals a test split may hold; open-set raises its unknowns to it
    )


def protocol_settings(protocol: str, opts: ProtocolOptions) -> dict[str, object]:
    """The options ``protocol`` reads, with their values: part of a cell's identity."""
    return {name: getattr(opts, name) for name in protocol_info(protocol).options}


def protocol_label(protocol: str, opts: ProtocolOptions) -> str:
    """``open-set[known=1,3,5,7,9 labels=40]``: the protocol with its non-default options, as
    leaderboards name it, so that cells run under different settings are never averaged together."""
    default = ProtocolOptions()
    changed = [
        f"{name.removesuffix('_classes')}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
        for name, value in protocol_settings(protocol, opts).items()
        if value != getattr(default, name)
    ]
    return f"{protocol}[{' '.join(changed)}]" if changed else protocol


PROTOCOLS: Registry[Callable[..., tuple[Indices, Indices, Indices]]] = Registry("protocol")


def _protocol(name: str, provides: frozenset[str], summary: str, **extra: object):
    def decorate(fn):
        PROTOCOLS.add(ProtocolInfo(name, provides, summary, **extra), fn)
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


@_protocol(
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
    val_anom, others = _take(others, _count_for_ratio(n_val, test_anom.mean()), "val anomalies")
    contam, _ = _take(
        others, _count_for_ratio(len(train_normal), opts.contamination), "contaminating anomalies"
    )
    return (
        _join(train_normal, contam, rng),
        _join(val_normal, val_anom, rng),
        (np.arange(len(y_test)), test_anom),
    )


@_protocol("leave-one-out", frozenset(), "class k anomalous, all others normal", normal="not {k}")
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
    options=("anomaly_ratio",),
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


# Seeds 000/001 on FashionMNIST: of 30,000 known-class training images, 26,000 form the
# unlabeled pool and 2,000 the labeled set; test sets of 1,000 known + 52 unknown, padded to
# 32x32. Smaller datasets: the README's Protocols section (the seeds' shares, all images used).
@dataclass(frozen=True)
class Share:
    """A size the seeds used, and the fraction that stands in for it where a dataset has less."""

    count: int
    fraction: float

    def of(self, available: int) -> int:
        return min(self.count, int(self.fraction * available))


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


@_protocol(
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
    pool, rest = _take(train_known, n_pool, "pool images")
    share = OPEN_SET_LABELED.of(len(train_known)) // len(known)  # the labeled set at most, per class
    per_class = min(opts.labels, OPEN_SET_LABELED.of(len(train_known))) // len(known)
    if per_class < 1:
        raise BenchError(f"--labels {opts.labels} gives no labeled image per known class")
    candidates = [rest[y_train[rest] == c][:share] for c in known]
    labeled = np.concatenate([_take(c, per_class, "labeled images")[0] for c in candidates])
    if n_pool < OPEN_SET_POOL.count:  # a smaller dataset: the seeds' unused images join the pool
        pool = np.concatenate([pool, np.setdiff1d(rest, np.concatenate(candidates))])
    test_known = rng.permutation(np.flatnonzero(is_known_te))
    test_unknown = rng.permutation(np.flatnonzero(~is_known_te))
    n_known = OPEN_SET_KNOWN.of(len(test_known))
    n_unknown = max(1, opts.min_test, round(OPEN_SET_UNKNOWN * n_known / OPEN_SET_KNOWN.count))
    n_unknown = min(n_unknown, len(test_unknown) // 2)
    known_sets, _ = _take(test_known, 2 * n_known, "known test images")
    unknown_sets, _ = _take(test_unknown, 2 * n_unknown, "unknown test images")
    # Test set k: its own disjoint slice of one draw that does not depend on k.
    test = _join(
        known_sets[k * n_known : (k + 1) * n_known], unknown_sets[k * n_unknown : (k + 1) * n_unknown], rng
    )
    val_unknown, _ = _take(
        rng.permutation(np.flatnonzero(~is_known_tr)),
        _count_for_ratio(len(labeled), n_unknown / (n_known + n_unknown)),
        "unknown validation images",
    )
    return _join(pool, pool[:0], rng), _join(labeled, val_unknown, rng), test


def protocol_info(name: str) -> ProtocolInfo:
    return PROTOCOLS.get(name)[0]


def split_indices(
    dataset: Dataset, protocol: str, k: int, seed: int, opts: ProtocolOptions = ProtocolOptions()
) -> tuple[Indices, Indices, Indices]:
    """Which images (by index into the train / train / test part) and anomaly labels make each part."""
    info, fn = PROTOCOLS.get(protocol)
    units = protocol_units(info, dataset.n_classes)
    if k not in units:
        what = "test set" if info.test_sets else "class"
        raise BenchError(f"{what} {k} is out of range for {dataset.name} under {protocol} (0..{units[-1]})")
    if not 0.0 <= opts.contamination < 1.0 or not 0.0 < opts.anomaly_ratio < 1.0:
        raise BenchError("contamination must be in [0, 1) and anomaly ratio in (0, 1)")
    if info.test_sets:  # k picks one test set out of a single draw, so it is not part of the seed
        rng = rng_for(dataset.name, protocol, seed, opts.known_classes)
    else:
        rng = rng_for(dataset.name, protocol, k, seed, opts.contamination, opts.anomaly_ratio)
    return fn(dataset.y_train, dataset.y_test, k, rng, opts)


def make_split(
    dataset: Dataset, protocol: str, k: int, seed: int, opts: ProtocolOptions = ProtocolOptions()
) -> Split:
    """The deterministic Split of ``dataset`` under ``protocol`` for class (or test set) ``k``, ``seed``."""
    parts = split_indices(dataset, protocol, k, seed, opts)
    pad = protocol_info(protocol).pad
    sources = ("train", "train", "test")
    return Split(
        *[_part(dataset, src, idx, lab, pad) for src, (idx, lab) in zip(sources, parts, strict=True)]
    )


def _part(dataset: Dataset, source: str, index: np.ndarray, anomaly: np.ndarray, pad: int = 0) -> Part:
    x, y = dataset.part(source)
    images = x[index].astype(np.float32)
    images /= 255.0
    if pad:
        images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return Part(x=images, anomaly=anomaly, classes=y[index], index=index, source=source)
