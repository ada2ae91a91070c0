"""Helpers a protocol builds its splits from: seeded generators, counts at a ratio, draws, joins.

Public so that a protocol plugin (``protocols/``) is a few lines of rules over
these; every built-in protocol uses them, so a new one draws the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError

Indices = tuple[np.ndarray, np.ndarray]  # (dataset indices, anomaly labels)


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``key`` (same on every machine and Python)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def count_for_ratio(n_normal: int, ratio: float) -> int:
    """How many anomalies beside ``n_normal`` normals make anomalies ``ratio`` of the whole."""
    return round(n_normal * ratio / (1.0 - ratio)) if ratio < 1 else n_normal


def take(pool: np.ndarray, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` of ``pool`` and the rest; one clear error when the pool is too small."""
    if n > len(pool):
        raise BenchError(f"protocol needs {n} {what} but only {len(pool)} are available")
    return pool[:n], pool[n:]


def join(normal: np.ndarray, anomalous: np.ndarray, rng: np.random.Generator) -> Indices:
    """Normal and anomalous indices as one shuffled part with its anomaly labels."""
    idx = np.concatenate([normal, anomalous]).astype(np.int64)
    lab = np.concatenate([np.zeros(len(normal), np.int8), np.ones(len(anomalous), np.int8)])
    order = rng.permutation(len(idx))
    return idx[order], lab[order]


def labeled_pool(
    y: np.ndarray, k: int, ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Class ``k``'s images as normal, and anomalies from the other classes at ``ratio``."""
    normal = rng.permutation(np.flatnonzero(y == k))
    others = rng.permutation(np.flatnonzero(y != k))
    anomalous, _ = take(others, count_for_ratio(len(normal), ratio), "labeled anomalies")
    return normal, anomalous


def hold_out(
    normal: np.ndarray, anomalous: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[Indices, Indices]:
    """Stratified hold-out: the same fraction of normals and anomalies goes to val."""
    n_vn, n_va = max(1, round(fraction * len(normal))), round(fraction * len(anomalous))
    return (
        join(normal[n_vn:], anomalous[n_va:], rng),
        join(normal[:n_vn], anomalous[:n_va], rng),
    )


@dataclass(frozen=True)
class Share:
    """A size the seeds used, and the fraction that stands in for it where a dataset has less."""

    count: int
    fraction: float

    def of(self, available: int) -> int:
        return min(self.count, int(self.fraction * available))
