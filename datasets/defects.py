"""Defect datasets in the MVTec AD layout (MVTec AD, BTAD, MPDD, or a user's own line of products):
``mvtec:DIR`` reads every category under DIR, each a class of its own.

A category is a folder holding ``train/good/`` (defect-free training images), ``test/good/`` and
one ``test/DEFECT/`` folder per kind of defect, and optionally ``ground_truth/DEFECT/NAME_mask.png``
(pixel masks, read and kept at the images' size for a later pixel-level metric, not scored yet).
Images come in several sizes and modes: every image is resized (bilinear) to one square size,
``mvtec:DIR@SIZE`` (default 128), and turned to colour when any image is colour. The size is part
of the dataset's name, so cells at different sizes never mix. Such a dataset brings its own split:
the ``own-split`` protocol trains on a category's good images and tests on its own test folder.
bench never ships or downloads MVTec AD (not bench's to redistribute): docs/datasets.md says where to get it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.api import DataError, Dataset, DatasetSource, register_dataset_family

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DEFAULT_SIZE = 128


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES) if folder.is_dir() else []


GREY_MODES = ("1", "L", "I", "I;16", "F")


def _open(path: Path, size: int, mode: str | None = None) -> np.ndarray:
    """One image resized to ``size`` as ``(c, h, w)``: in ``mode``, or grey or colour as it is."""
    try:
        with Image.open(path) as image:
            mode = mode or ("L" if image.mode in GREY_MODES else "RGB")
            image = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__})") from None
    pixels = np.asarray(image, np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _mask(category: Path, defect: str, image: Path, size: int) -> np.ndarray:
    """The defect's pixel mask at ``size`` (all zero where the layout has none)."""
    path = category / "ground_truth" / defect / f"{image.stem}_mask.png"
    if not path.is_file():
        return np.zeros((size, size), np.uint8)
    return (_open(path, size, "L")[0] > 127).astype(np.uint8)


class DefectFolder(DatasetSource):
    """One folder of categories in the MVTec AD layout, resized to one size."""

    def __init__(self, root: str, size: int) -> None:
        self.root, self.size = Path(root), size
        self.name = f"mvtec:{root}@{size}"

    def where(self, data_dir: str | None = None) -> str:
        return f"available: {self.root}" if self.root.is_dir() else f"not here: no folder {self.root}"

    def categories(self) -> list[Path]:
        if not self.root.is_dir():
            raise DataError(f"mvtec:{self.root}: no such folder")
        found = sorted(p for p in self.root.iterdir() if _images(p / "train" / "good"))
        if not found:
            raise DataError(f"mvtec:{self.root}: no CATEGORY/train/good/ folder with images in it")
        for category in found:
            if not _images(category / "test" / "good") or not self._defects(category):
                raise DataError(
                    f"{category}: needs test/good/ and at least one test/DEFECT/ folder of images"
                )
        return found

    @staticmethod
    def _defects(category: Path) -> list[str]:
        test = category / "test"
        return sorted(p.name for p in test.iterdir() if p.name != "good" and _images(p))

    def load(self, data_dir: str | None = None) -> Dataset:
        categories = self.categories()
        train, test = [], []  # (class, image, anomalous, defect)
        for k, category in enumerate(categories):
            train += [(k, p, 0, None) for p in _images(category / "train" / "good")]
            test += [(k, p, 0, None) for p in _images(category / "test" / "good")]
            for defect in self._defects(category):
                test += [(k, p, 1, defect) for p in _images(category / "test" / defect)]
        x_train, x_test = ([_open(p, self.size) for _, p, _, _ in part] for part in (train, test))
        colour = any(len(x) == 3 for x in x_train + x_test)  # then grey images too (channels repeated)
        x_train, x_test = (
            np.stack([np.repeat(x, 3 // len(x), axis=0) if colour else x for x in xs])
            for xs in (x_train, x_test)
        )
        masks = np.stack([
            _mask(categories[k], d, p, self.size) if d else np.zeros((self.size, self.size), np.uint8)
            for k, p, _, d in test
        ])  # fmt: skip
        return Dataset(
            name=self.name,
            x_train=x_train,
            y_train=np.array([k for k, *_ in train], np.int64),
            x_test=x_test,
            y_test=np.array([k for k, *_ in test], np.int64),
            class_names=tuple(c.name for c in categories),
            source=f"{self.root} (MVTec AD layout, {len(categories)} categories, resized to "
            f"{self.size}x{self.size} {'RGB' if colour else 'L'})",
            test_anomaly=np.array([a for _, _, a, _ in test], np.int8),
            test_masks=masks,
        )


@register_dataset_family(
    "mvtec", "mvtec:DIR[@SIZE] (the MVTec AD layout)", summary="defect images in the MVTec AD layout"
)
def defect_folder(arg: str) -> DefectFolder:
    root, _, size = arg.rpartition("@") if "@" in arg else (arg, "", str(DEFAULT_SIZE))
    if not size.isdigit() or not 8 <= int(size) <= 1024:
        raise DataError(f"mvtec:{arg}: the size after @ must be a whole number of pixels, 8 to 1024")
    return DefectFolder(root, int(size))
