"""The data that flows between datasets, protocols and methods."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 ``(n, c, h, w)`` with integer class labels, in the dataset's own parts."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # where the images came from: a path, a package
    checksums: str = "user files, no published checksum"  # what verified them
    # Datasets that bring their own split (defect images): which test images are anomalous, and
    # their pixel masks (kept for a pixel-level metric, not scored yet). None elsewhere.
    test_anomaly: np.ndarray | None = None
    test_masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{self.name}: images must be uint8 (n, c, h, w), got {x.dtype} {x.shape}")
            if len(x) != len(y):
                raise ValueError(f"{self.name}: {len(x)} images but {len(y)} labels")
        for given in (self.test_anomaly, self.test_masks):
            if given is not None and len(given) != len(self.x_test):
                raise ValueError(
                    f"{self.name}: {len(given)} anomaly labels or masks for {len(self.x_test)} images"
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"{self.name}: train and test images differ in shape")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def part(self, source: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.x_train, self.y_train) if source == "train" else (self.x_test, self.y_test)

    def pixels_sha256(self, source: str) -> str:
        """The sha256 of one part's pixels (what frozen features of that part depend on)."""
        return self._sha256[source]

    @cached_property
    def _sha256(self) -> dict[str, str]:
        return {s: hashlib.sha256(self.part(s)[0].tobytes()).hexdigest() for s in ("train", "test")}

    @cached_property
    def digest(self) -> str:
        """A digest of everything a cell reads from the dataset: both parts' pixels, labels and shapes.

        Part of every cell's key, so an edited or swapped copy of a dataset makes new cells.
        """
        labels = {
            s: hashlib.sha256(self.part(s)[1].astype(np.int64).tobytes()).hexdigest() for s in self._sha256
        }
        shapes = [list(self.x_train.shape), list(self.x_test.shape)]
        blob: dict = {"pixels": self._sha256, "labels": labels, "shapes": shapes}
        if self.test_anomaly is not None:  # only where present: other datasets keep their digests
            blob["anomaly"] = hashlib.sha256(self.test_anomaly.astype(np.int8).tobytes()).hexdigest()
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Part:
    """One side of a split: images in [0, 1], labels, and where each image came from.

    ``index`` points into the dataset part named by ``source`` (``"train"`` or
    ``"test"``), so every score can be traced back to its image.
    """

    x: np.ndarray
    anomaly: np.ndarray
    classes: np.ndarray
    index: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_anomalies(self) -> int:
        return int(self.anomaly.sum())


@dataclass(frozen=True)
class TrainData:
    """What a method's ``fit`` sees: images, plus only the labels the method declared it needs."""

    x: np.ndarray
    anomaly: np.ndarray | None = None
    classes: np.ndarray | None = None
    labeled_x: np.ndarray | None = None  # the protocol's small labeled set, for methods that need it
    labeled_classes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Sizes:
    """How many normal and anomalous images each part of a split holds, and its labeled set."""

    train_normal: int
    train_anomalous: int
    val_normal: int
    val_anomalous: int
    test_normal: int
    test_anomalous: int
    labeled: int | None = None  # open-set: the labeled set, which is validation's normal images

    @classmethod
    def of(cls, train: np.ndarray, val: np.ndarray, test: np.ndarray, labeled_set: bool = False) -> Sizes:
        """The sizes of parts given by their anomaly labels (1 = anomalous)."""
        counts = [n for a in (train, val, test) for n in (int(len(a) - a.sum()), int(a.sum()))]
        return cls(*counts, labeled=counts[2] if labeled_set else None)

    def params(self) -> dict[str, float]:
        """What a cell logs: each part's size and anomalies, the test's anomaly ratio."""
        out: dict[str, float] = {}
        for part in ("train", "val", "test"):
            normal, anomalous = getattr(self, f"{part}_normal"), getattr(self, f"{part}_anomalous")
            out[f"n_{part}"], out[f"n_{part}_anomalies"] = normal + anomalous, anomalous
        out["test_anomaly_ratio"] = round(self.test_anomalous / max(out["n_test"], 1), 4)
        return out


@dataclass(frozen=True)
class Split:
    """A protocol's train / val / test parts for one (dataset, class, seed)."""

    train: Part
    val: Part
    test: Part

    def sizes(self, labeled_set: bool = False) -> Sizes:
        return Sizes.of(self.train.anomaly, self.val.anomaly, self.test.anomaly, labeled_set)


class DatasetSource:
    """Where a dataset's images come from: a registered dataset is one of these."""

    def load(self, data_dir: str | None) -> Dataset:
        raise NotImplementedError

    def where(self, data_dir: str | None) -> str:
        """One line for ``bench list``: where the files are (starting "available"), or how to get them."""
        raise NotImplementedError

    def missing(self, data_dir: str | None) -> str:
        """Why this dataset cannot be read here without a download ("" when it can)."""
        where = self.where(data_dir)
        return "" if where.startswith("available") else where


def labels_present(*parts: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    """The classes of a dataset are the labels it holds: labels {0, 1000} are two classes, numbered
    0 and 1 and named "0" and "1000" (labels 0..n-1, all present, stay as they are)."""
    held = np.unique(np.concatenate([p for p in parts if p is not None]))
    renumbered = tuple(None if p is None else np.searchsorted(held, p).astype(np.int64) for p in parts)
    return renumbered, tuple(str(label) for label in held)


def stratified_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed train/test split for datasets that have none: stratified, seeded, portable."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: round(test_fraction * len(members))]] = True
    return x[~test], y[~test], x[test], y[test]
