"""Threshold rules as pure functions of scores (anomalous iff score > threshold)."""

from __future__ import annotations

import numpy as np


def max_accuracy_threshold(scores: np.ndarray, anomaly: np.ndarray) -> float:
    """The cut between two consecutive distinct scores that classifies the most images correctly.

    With no anomalies it falls back to the largest score (flag nothing), never to the
    smallest (which would flag everything).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(anomaly).astype(bool)
    if not y.any():
        return float(s.max())
    order = np.argsort(s, kind="mergesort")
    s, y = s[order], y[order]
    # Cutting after position i flags s[i+1:]: correct = normals at or below + anomalies above.
    normals_below = np.cumsum(~y)
    anomalies_above = y.sum() - np.cumsum(y)
    correct = normals_below + anomalies_above
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    best = last_of_tie[np.argmax(correct[last_of_tie])]
    flag_all = int(y.sum())  # a cut below the smallest score
    if flag_all > correct[best]:
        return float(np.nextafter(s[0], -np.inf))
    return float(s[best] if best == len(s) - 1 else (s[best] + s[best + 1]) / 2)


def midpoint_threshold(scores: np.ndarray, anomaly: np.ndarray) -> float:
    """Halfway between the mean normal and the mean anomalous score."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(anomaly).astype(bool)
    if not y.any():
        return float(s.max())
    return float((s[~y].mean() + s[y].mean()) / 2)
