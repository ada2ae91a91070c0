"""Normal-class protocols: a dataset and a class index become a train / val / test Split.

Each protocol is stated as data (which classes are normal, where anomalies come
from, how much is held out) and is deterministic for (dataset, protocol, class,
seed). Test images always come from the dataset's test part and train/val
images from its train part, so no test image can reach fitting or tuning.
Validation mirrors the test's anomaly ratio so thresholds chosen there transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from bench.data.dataset import Dataset, Part, Split
from bench.data.splits import Indices, rng_for
from bench.errors import BenchError
from bench.registry import PROTOCOLS, ProtocolInfo


def protocol_units(info: ProtocolInfo, n_classes: int) -> list[int]:
    """What ``--classes all`` means for a protocol: every class, or every test set."""
    return list(range(info.test_sets if info.test_sets else n_classes))


def _option(flag: str, help: str, shown: str | None = None) -> dict[str, Any]:
    return {"flag": flag, "help": help, "shown": shown}


@dataclass(frozen=True)
class ProtocolOptions:
    """Knobs a protocol may read; all part of a cell's identity. Declared here once: each field's
    metadata is its command-line flag and help, ``check`` its range; ``SweepConfig`` inherits the
    fields and the command line builds its flags from them."""

    contamination: float = field(
        default=0.0, metadata=_option("--contamination", "one-class: unlabeled anomalies in training")
    )
    anomaly_ratio: float = field(
        default=0.078, metadata=_option("--anomaly-ratio", "supervised: ratio of labeled anomalies")
    )
    known_classes: tuple[int, ...] | None = field(  # None: the first half of the classes
        default=None,
        metadata=_option("--known", "open-set: comma list of the known classes", "the first half, 0-4 of 10"),
    )
    labels: int = field(  # drawn evenly from the known classes
        default=2000, metadata=_option("--labels", "open-set: labeled images, evenly over known classes")
    )
    min_test: int = field(  # open-set raises its unknowns to it
        default=10,
        metadata=_option(
            "--min-test", "a cell whose test split holds fewer than N anomalies or N normal images is n/a"
        ),
    )

    def check(self) -> None:
        """Settings that are wrong whatever the dataset: one line each, naming the flag."""
        if not 0.0 <= self.contamination < 1.0:
            raise BenchError(f"--contamination must be in [0, 1), not {self.contamination}")
        if not 0.0 < self.anomaly_ratio < 1.0:
            raise BenchError(f"--anomaly-ratio must be in (0, 1), not {self.anomaly_ratio}")
        if self.labels < 1:
            raise BenchError(f"--labels must be at least 1, not {self.labels}")
        if self.min_test < 1:
            raise BenchError(f"--min-test must be at least 1, not {self.min_test}")
        if self.known_classes is not None and len(set(self.known_classes)) < len(self.known_classes):
            twice = sorted({k for k in self.known_classes if self.known_classes.count(k) > 1})
            raise BenchError(
                f"--known lists {', '.join(map(str, twice))} more than once; list each class once"
            )

    def protocol_options(self) -> ProtocolOptions:
        """Just the protocol's options (of a config that holds them among its other settings)."""
        return ProtocolOptions(**{f.name: getattr(self, f.name) for f in fields(ProtocolOptions)})


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


def protocol_info(name: str) -> ProtocolInfo:
    return PROTOCOLS.get(name)[0]


def split_indices(
    dataset: Dataset, protocol: str, unit: int, seed: int, opts: ProtocolOptions = ProtocolOptions()
) -> tuple[Indices, Indices, Indices]:
    """Which images (by index into the train / train / test part) and anomaly labels make each part."""
    info, fn = PROTOCOLS.get(protocol)
    mismatch = split_mismatch(info, dataset)
    if mismatch:
        raise BenchError(f"{protocol} on {dataset.name}: {mismatch}")
    units = protocol_units(info, dataset.n_classes)
    if unit not in units:
        what = "test set" if info.test_sets else "class"
        span = f"0..{units[-1]}"
        raise BenchError(f"{what} {unit} is out of range for {dataset.name} under {protocol} ({span})")
    if not 0.0 <= opts.contamination < 1.0 or not 0.0 < opts.anomaly_ratio < 1.0:
        raise BenchError("contamination must be in [0, 1) and anomaly ratio in (0, 1)")
    if info.test_sets:  # the unit picks one test set out of a single draw, so it is not part of the seed
        rng = rng_for(dataset.name, protocol, seed, opts.known_classes)
    else:
        rng = rng_for(dataset.name, protocol, unit, seed, opts.contamination, opts.anomaly_ratio)
    own = {"test_anomaly": dataset.test_anomaly} if info.own_split else {}
    return fn(dataset.y_train, dataset.y_test, unit, rng, opts, **own)


def split_mismatch(info: ProtocolInfo, dataset: Dataset) -> str:
    """Why ``info`` cannot split ``dataset`` ("" when it can): an own-split protocol needs a dataset
    that brings its split, and such a dataset is split by nothing else."""
    if info.own_split and dataset.test_anomaly is None:
        return "the dataset has no split of its own (own-split is for defect datasets, e.g. mvtec:DIR)"
    if not info.own_split and dataset.test_anomaly is not None:
        return "the dataset brings its own split of good and defective images: use --protocols own-split"
    return ""


def make_split(
    dataset: Dataset, protocol: str, unit: int, seed: int, opts: ProtocolOptions = ProtocolOptions()
) -> Split:
    """The deterministic Split of ``dataset`` under ``protocol`` for ``unit`` (the class, or the test
    set, under test) and ``seed``."""
    parts = split_indices(dataset, protocol, unit, seed, opts)
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
