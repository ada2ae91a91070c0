"""The cell: what defines one result (its identity and resume key), what it came to, and what the
process that ran it sends back. The record every layer above shares: the sweep makes cells and runs
them, tracking logs them as runs, reports read them back, tune and the contract checks run them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench import schema
from bench.config import variant_label
from bench.data.protocol import ProtocolOptions, protocol_info, protocol_label, protocol_settings
from bench.scoring.thresholds import TunedThreshold

CELL_SCHEMA = 3  # bump when what a cell computes changes, so old results are not reused (3: data digest)


@dataclass(frozen=True)
class Cell:
    """Everything that defines one result; its hash is the resume key."""

    method: str
    params: dict[str, Any]
    dataset: str
    protocol: str
    # The class under test, or the test set under protocols with numbered test sets: the "class" of
    # every table and tag; a protocol's rule gets it as ``k`` ("class k normal"); the ``normal_class``
    # tag says in the protocol's words what is normal for it ("3", "not 3").
    unit: int
    seed: int
    options: ProtocolOptions
    overrides: dict[str, Any] = field(default_factory=dict)
    threshold: str = "own"  # or "tuned": also choose a threshold on validation
    tuned_from: str | None = None  # the tune study the parameters came from
    precision: str = "auto"  # keyed only when asked for explicitly (auto is fp32 on CPU, bf16 on CUDA)
    data: str = ""  # the dataset's content digest: edited or swapped data makes new cells
    deterministic: bool = False  # torch's deterministic algorithms only (keyed only when asked for)
    fast_kernels: bool = False  # bench's own CPU kernels, other float rounding (keyed only when asked for)
    # The keyword arguments that rebuild the method in any process; ``params`` is what they mean.
    settings: dict[str, Any] = field(default_factory=dict, compare=False)
    pretrained: str = field(default="", compare=False)  # the outside data a method's weights come from
    plugin: str = field(default="", compare=False)  # "name version" of the package that registered it

    @property
    def label_name(self) -> str:
        return variant_label(self.method, self.overrides, self.tuned_from)

    def identity(self) -> dict[str, Any]:
        return {
            "schema": CELL_SCHEMA,
            "method": self.method,
            "params": self.params,
            "dataset": self.dataset,
            "data": self.data,
            "protocol": self.protocol,
            "class": self.unit,
            "seed": self.seed,
            "protocol_options": protocol_settings(self.protocol, self.options),
            # Version 1 is every split made before versions existed, so those cells keep their keys.
            **({schema.PROTOCOL_VERSION: self.protocol_version} if self.protocol_version != 1 else {}),
            **({"threshold": self.threshold} if self.threshold != "own" else {}),
            **({"precision": self.precision} if self.precision != "auto" else {}),
            **({"deterministic": True} if self.deterministic else {}),
            **({"fast_kernels": True} if self.fast_kernels else {}),
        }

    @property
    def key(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def protocol_version(self) -> int:
        return protocol_info(self.protocol).version

    @property
    def protocol_label(self) -> str:
        return protocol_label(self.protocol, self.options)

    @property
    def title(self) -> str:
        return f"{self.method} · {self.dataset} · {self.protocol_label} {self.unit}"

    @property
    def label(self) -> str:
        unit = "test set" if protocol_info(self.protocol).test_sets else "class"
        where = f"{self.dataset} | {self.protocol_label} | {unit} {self.unit} | seed {self.seed}"
        return f"{self.label_name} | {where}"

    @property
    def normal_class(self) -> str:
        """What is normal in this cell, in the protocol's words (the ``normal_class`` tag)."""
        known = self.options.known_classes
        return protocol_info(self.protocol).normal.format(
            k=self.unit, known=f" {','.join(map(str, known))}" if known else ""
        )


@dataclass
class CellResult:
    ok: bool
    metrics: dict[str, float] = field(default_factory=dict)
    scores: np.ndarray | None = None
    threshold: float | None = None
    threshold_source: str = "none"
    tuned: TunedThreshold | None = None
    report: pd.DataFrame | None = None  # open-set: per-class report of known classes + "unknown"
    error: str = ""
    detail: str = ""
    curves: dict[str, dict[int, float]] = field(default_factory=dict)  # the fit's series, by step
    # When the cell's fit began and its scoring ended (ms since the epoch): its run's start and end,
    # so that the UI's duration is the cell's compute, not the moment it was logged.
    began: int | None = None
    ended: int | None = None


@dataclass(frozen=True)
class TestLabels:
    """What the driver logs about the test images: positions, provenance and labels, not pixels."""

    index: np.ndarray
    source: str
    anomaly: np.ndarray
    classes: np.ndarray

    def scores_csv(self, scores: np.ndarray) -> str:
        """The ``scores.csv`` artifact: one row per test image, so any figure can be redrawn."""
        table = {"index": self.index, "source": self.source, "anomaly": self.anomaly, "class": self.classes}
        return pd.DataFrame({**table, "score": scores}).to_csv(index=False)


@dataclass
class Outcome:
    job_id: int
    result: CellResult
    device: str
    sizes: dict[str, float] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # where the images came from, what verified them
    test: TestLabels | None = None
    figures: dict[str, str] | None = None  # drawn where the cell ran (SVG text); None: none asked for
    provenance: dict[str, str] = field(default_factory=dict)  # versions, machine, determinism where it ran
