"""Frozen features, computed once per (extractor, dataset part) and shared by every cell that asks.

A method that works on a pretrained network's features declares its
``Extractor`` (backbone and input resolution; with ``until_stride``, only the
frozen stem of a network it fine-tunes, whose activation maps then stand in
for the images). The harness computes the
features of all of a dataset's images once, stores them as plain ``.npy``
arrays (never pickles) under the cache folder, keyed by a hash of everything
they depend on (the extractor with its weights' sha256 and preprocessing, the
dataset's name and the sha256 of its pixels), with a JSON record holding the
array's own sha256, which every read verifies. Every class, seed and
protocol then takes its rows by index; a second sweep computes nothing. ``knn_score`` is the
score every kNN-on-features method gives them.
Protocol padding (open-set) does not reach frozen features: they are of the
dataset's images as stored, resized by the backbone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from bench.data.dataset import Dataset, Split
from bench.nets import backbones

BATCH = 256


@dataclass(frozen=True)
class Extractor:
    """A frozen network: the whole backbone (pooled features ``(n, d)``), or with ``until_stride`` its
    stem, the blocks whose outputs are finer than that stride (activation maps ``(n, c, h, w)``),
    or with ``levels`` every level's pooled features side by side (``(n, sum of level widths)``),
    stored as ``dtype`` ("float32", or "float16" for half the disk at rounded values)."""

    backbone: str
    resolution: int
    until_stride: int | None = None
    dtype: str = "float32"
    levels: bool = False

    def __post_init__(self) -> None:
        if self.levels and self.until_stride is not None:
            raise ValueError("an extractor gives every level's pooled features or a stem's maps, not both")

    def identity(self) -> dict[str, object]:
        spec = backbones.BACKBONES[self.backbone]
        whole = {
            "backbone": self.backbone,
            "resolution": self.resolution,
            "weights_sha256": backbones.weights_sha256(self.backbone),
            "preprocess": spec.preprocess,
        }
        if self.levels:
            return {**whole, "levels": True, "dtype": self.dtype}
        if self.until_stride is None and self.dtype == "float32":  # whole-network keys as they always were
            return whole
        return {**whole, "until_stride": self.until_stride, "dtype": self.dtype}

    def widths(self) -> tuple[int, ...]:
        """With ``levels``, each level's number of features, in the order they come."""
        return _network(dataclasses.replace(self, levels=False), "cpu").level_widths()

    def network(self, device: str = "cpu") -> torch.nn.Module:
        """The frozen network itself, in eval mode on ``device``: built once per process (its weights
        read from disk once), since a fine-tuned method given images runs its stem at every call."""
        return _network(self, device)

    def takes(self, x: np.ndarray) -> bool:
        """Whether ``x`` holds images (1 or 3 channels) rather than this extractor's output."""
        return x.ndim == 4 and x.shape[1] in (1, 3)


@functools.lru_cache(maxsize=4)
def _network(extractor: Extractor, device: str) -> torch.nn.Module:
    features = backbones.build(extractor.backbone, extractor.resolution, device)
    if extractor.levels:
        return backbones.Levels(features)
    if extractor.until_stride is None:
        return features
    return backbones.Stem(features, backbones.blocks_before_stride(features, extractor.until_stride))


@torch.no_grad()
def extract(extractor: Extractor, images: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The extractor's output (features or stem maps, in its dtype) for uint8 or [0, 1] float images
    ``(n, c, h, w)``, in batches."""
    net = extractor.network(device)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    out = []
    for i in range(0, len(images), BATCH):
        x = torch.as_tensor(images[i : i + BATCH], dtype=torch.float32, device=device) / scale
        out.append(net(x).float().cpu().numpy().astype(extractor.dtype, copy=False))
    return np.concatenate(out) if out else np.zeros((0, 0), extractor.dtype)


CHUNK = 1024


@torch.no_grad()
def knn_score(queries: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    """Mean squared Euclidean distance of each query to its ``k`` nearest reference vectors.

    Queries are compared in chunks: memory stays bounded by ``CHUNK`` x len(reference).
    """
    k = min(k, len(reference))
    out = [
        torch.cdist(queries[i : i + CHUNK], reference).pow(2).topk(k, dim=1, largest=False).values.mean(dim=1)
        for i in range(0, len(queries), CHUNK)
    ]
    return torch.cat(out) if out else queries.new_zeros(0)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Features on disk under ``folder``; ``computed`` counts the arrays this instance had to make."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.computed = 0

    def key(self, extractor: Extractor, dataset: Dataset, part: str) -> str:
        pixels = dataset.pixels_sha256(part)
        blob = {"extractor": extractor.identity(), "dataset": dataset.name, "part": part, "pixels": pixels}
        return _sha256(json.dumps(blob, sort_keys=True).encode())[:24]

    def features(self, extractor: Extractor, dataset: Dataset, part: str, device: str = "cpu") -> np.ndarray:
        """The features of every image of ``dataset``'s ``part`` ("train" or "test")."""
        key = self.key(extractor, dataset, part)
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder / f"{key}.lock")):  # concurrent workers compute it once
            cached = self._read(key)
            if cached is not None:
                return cached
            array = extract(extractor, dataset.part(part)[0], device)
            self._write(
                key, array, {"extractor": extractor.identity(), "dataset": dataset.name, "part": part}
            )
            self.computed += 1
            return array

    def holds(self, extractor: Extractor, dataset: Dataset, part: str) -> bool:
        """Whether the features of ``dataset``'s ``part`` are on disk (not checked: a damaged file is
        found, and computed again, when it is read)."""
        return all(path.is_file() for path in self._files(self.key(extractor, dataset, part)))

    def _files(self, key: str) -> tuple[Path, Path]:
        """An entry's JSON record and its array."""
        return self.folder / f"{key}.json", self.folder / f"{key}.npy"

    def _read(self, key: str) -> np.ndarray | None:
        record, data = self._files(key)
        if not (record.is_file() and data.is_file()):
            return None
        try:
            meta = json.loads(record.read_text())
            expected = meta["sha256"]
        except (ValueError, KeyError, TypeError, OSError):
            return None  # a truncated or garbled record: computed again, as a damaged array is
        raw = data.read_bytes()  # read once: verified, then parsed from memory
        if _sha256(raw) != expected:
            return None  # a damaged or foreign file: computed again, never trusted
        return np.load(io.BytesIO(raw), allow_pickle=False)

    def _write(self, key: str, array: np.ndarray, meta: dict[str, object]) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        digest = _sha256(buffer.getbuffer())
        self._replace(f"{key}.npy", buffer.getbuffer())
        record = {**meta, "shape": list(array.shape), "sha256": digest}
        self._replace(f"{key}.json", json.dumps(record, indent=2, default=str).encode())

    def _replace(self, name: str, data: bytes | memoryview) -> None:
        """Write ``name`` whole or not at all: a temporary file, then a rename over the old one."""
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from other users of the cache
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def frozen_split(
    split: Split, dataset: Dataset, extractor: Extractor, cache: FeatureCache, device: str = "cpu"
) -> Split:
    """``split`` with each part's images replaced by their cached features (rows picked by index)."""
    features: dict[str, np.ndarray] = {}  # train and val share one array: read (and verified) once
    parts = {}
    for name in ("train", "val", "test"):
        part = getattr(split, name)
        if part.source not in features:
            features[part.source] = cache.features(extractor, dataset, part.source, device)
        parts[name] = dataclasses.replace(part, x=features[part.source][part.index])
    return Split(**parts)
