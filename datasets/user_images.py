"""A user's own images: ``folder:DIR`` (one sub-folder per class) or ``npz:FILE``.

Folder images may differ in size and mode: all are converted to the mode most
of them have (grey ``L`` or colour ``RGB``) and resized with bilinear filtering
to the most common size, so one odd image does not resize the rest. An npz
holds ``x`` (uint8, ``(n, h, w)``, ``(n, h, w, c)`` or ``(n, c, h, w)``) and
``y``, optionally with ``x_test``/``y_test``; without a test part, both get
the fixed stratified 70/30 split that ``digits`` uses. A file bench cannot
use stops the load with one line naming it: an unreadable image in a folder
(bench does not skip it, so no image is silently left out), an npz whose
parts disagree in length or image shape, a part without its labels,
labels that are not integers >= 0. An npz's classes are the labels it holds
(labels 0 and 1000 are two classes, named "0" and "1000").
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bench.api import (
    DataError,
    Dataset,
    DatasetSource,
    labels_present,
    register_dataset_family,
    stratified_split,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype != np.uint8:
        raise DataError(f"{where}: images must be uint8, got {x.dtype}")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    raise DataError(f"{where}: cannot read image array of shape {x.shape}")


def _finish(name: str, x, y, x_test, y_test, class_names, source) -> Dataset:
    if len(np.unique(y)) < 2:
        raise DataError(f"{source}: needs at least two classes, found {len(np.unique(y))}")
    if x_test is None:
        x, y, x_test, y_test = stratified_split(x, y)
    return Dataset(name, x, y, x_test, y_test, tuple(class_names), source)


def _part(arrays: dict[str, np.ndarray], xs: str, ys: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one part, checked: one integer label >= 0 per image."""
    x, y = _to_nchw(arrays[xs], str(path)), arrays[ys]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: '{ys}' must be a 1-d array of integer labels, got {y.dtype} {y.shape}")
    if len(y) != len(x):
        raise DataError(f"{path}: '{xs}' holds {len(x)} images but '{ys}' {len(y)} labels")
    if len(y) and y.min() < 0:
        raise DataError(f"{path}: '{ys}' has negative labels ({int(y.min())}); classes are 0, 1, ...")
    return x, y.astype(np.int64)


class FolderImages(DatasetSource):
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def where(self, data_dir: str | None = None) -> str:
        return f"available: {self.root}" if self.root.is_dir() else f"not here: {self.root} is missing"

    def load(self, data_dir: str | None = None) -> Dataset:
        from PIL import Image, UnidentifiedImageError

        if not self.root.is_dir():
            raise DataError(f"folder dataset {self.root} does not exist")
        classes = sorted(p for p in self.root.iterdir() if p.is_dir())
        paths, labels = [], []
        for label, folder in enumerate(classes):
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            paths += files
            labels += [label] * len(files)
        if not paths:
            raise DataError(f"{self.root}: no images found in class sub-folders")
        images = []
        for path in paths:
            try:
                with Image.open(path) as im:
                    images.append(im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy())
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"{path}: not a readable image ({exc})") from exc
        mode = Counter(im.mode for im in images).most_common(1)[0][0]
        size = Counter(im.size for im in images).most_common(1)[0][0]
        arrays = [np.asarray(im.convert(mode).resize(size, Image.BILINEAR)) for im in images]
        x = _to_nchw(np.stack(arrays), str(self.root))
        return _finish(
            f"folder:{self.root}",
            x,
            np.asarray(labels, np.int64),
            None,
            None,
            [c.name for c in classes],
            str(self.root),
        )


class NpzImages(DatasetSource):
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def where(self, data_dir: str | None = None) -> str:
        return f"available: {self.path}" if self.path.is_file() else f"not here: {self.path} is missing"

    def load(self, data_dir: str | None = None) -> Dataset:
        if not self.path.is_file():
            raise DataError(f"npz dataset {self.path} does not exist")
        try:
            with np.load(self.path) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception as exc:  # empty, truncated or not an npz: numpy and zipfile raise many kinds
            raise DataError(f"cannot read {self.path}: {type(exc).__name__}: {exc}") from None
        if "x" not in arrays or "y" not in arrays:
            raise DataError(f"{self.path}: needs arrays 'x' and 'y', has {sorted(arrays)}")
        if ("x_test" in arrays) != ("y_test" in arrays):
            raise DataError(
                f"{self.path}: has {'x_test' if 'x_test' in arrays else 'y_test'} without its pair"
            )
        x, y = _part(arrays, "x", "y", self.path)
        x_test, y_test = _part(arrays, "x_test", "y_test", self.path) if "x_test" in arrays else (None, None)
        if x_test is not None and x_test.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{self.path}: 'x' images are {x.shape[1:]} but 'x_test' images {x_test.shape[1:]}"
            )
        (y, y_test), names = labels_present(y, y_test)
        return _finish(
            f"npz:{self.path}",
            x,
            y,
            x_test,
            y_test,
            names,
            str(self.path),
        )


register_dataset_family("folder", "folder:DIR", summary="images in class sub-folders")(FolderImages)
register_dataset_family("npz", "npz:FILE", summary="arrays x, y in an .npz")(NpzImages)
