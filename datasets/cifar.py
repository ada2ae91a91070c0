"""CIFAR-10 and CIFAR-100 from their binary releases: fixed-size records, never the pickled files.

A record is its label bytes (CIFAR-10: the class; CIFAR-100: the coarse superclass, then the
fine class) and 3,072 pixel bytes (1,024 red, then green, then blue, each row by row), so the
pixels are already (3, 32, 32). Search order as for the IDX datasets: ``--data-dir`` (and its
``NAME/`` sub-folder), ``$BENCH_DATA`` (likewise), bench's cache, else the archive is downloaded
from the authors' page and its published md5 checked. A folder may hold the archive as published
or the folder it extracts to; bench reads the archive's members without extracting anything.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.api import (
    DataError,
    Dataset,
    DatasetSource,
    cache_dir,
    download,
    md5_of,
    register_dataset,
    search_dirs,
)

PIXELS = 3 * 32 * 32
PAGE = "https://www.cs.toronto.edu/~kriz/"


@dataclass(frozen=True)
class CifarSpec:
    name: str
    archive: str  # the binary release, as the authors' page publishes it
    md5: str  # from the authors' page (https://www.cs.toronto.edu/~kriz/cifar.html)
    folder: str  # what the archive extracts to
    train: tuple[str, ...]
    test: str
    label_bytes: int
    label: int  # which label byte is the class
    class_names: tuple[str, ...]
    classes_given: tuple[int, ...]  # how many classes each label byte has (checks every record)
    home: str = ""  # the folder name searched and cached under, where not ``name`` (one download, two views)

    @property
    def folder_name(self) -> str:
        return self.home or self.name


class CifarDataset(DatasetSource):
    spec: CifarSpec

    def _found(self, data_dir: str | None) -> tuple[Path, str] | None:
        """The archive or the extracted folder in the first place that holds one, and its origin."""
        for folder, origin in search_dirs(self.spec.folder_name, data_dir):
            for candidate in (folder / self.spec.archive, folder / self.spec.folder):
                if candidate.is_file() or (candidate / self.spec.test).is_file():
                    return candidate, origin
        return None

    def where(self, data_dir: str | None = None) -> str:
        hit = self._found(data_dir)
        if hit:
            return f"available: {hit[0]} ({hit[1]})"
        return (
            f"not here: put {self.spec.archive} (or its {self.spec.folder}/ folder) in --data-dir DIR "
            f"or $BENCH_DATA, or it is downloaded on first use from {PAGE}{self.spec.archive}"
        )

    def load(self, data_dir: str | None = None) -> Dataset:
        hit = self._found(data_dir)
        if data_dir and (hit is None or hit[1] != "--data-dir"):  # a named folder is never passed over
            raise DataError(
                f"--data-dir {data_dir} holds neither {self.spec.archive} nor {self.spec.folder}/ "
                f"(there or in {Path(data_dir) / self.spec.folder_name})"
            )
        if hit is None:
            dest = cache_dir() / self.spec.folder_name / self.spec.archive
            hit = download([PAGE + self.spec.archive], dest, self.spec.md5), "download"
        path, origin = hit
        blobs, verdict = self._read(path, origin)
        parts = {name: self._records(blob, f"{path}: {name}") for name, blob in blobs.items()}
        x_train, y_train = (np.concatenate([parts[n][i] for n in self.spec.train]) for i in (0, 1))
        x_test, y_test = parts[self.spec.test]
        return Dataset(
            name=self.spec.name,
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            class_names=self.spec.class_names,
            source=f"{path} ({origin})",
            checksums=verdict,
        )

    def _read(self, path: Path, origin: str) -> tuple[dict[str, bytes], str]:
        """Each binary file's bytes, and what the checksum said (only the archive has a published one)."""
        names = (*self.spec.train, self.spec.test)
        if path.is_dir():
            missing = [n for n in names if not (path / n).is_file()]
            if missing:
                raise DataError(f"{path}: missing {', '.join(missing)}")
            return {n: (path / n).read_bytes() for n in names}, "extracted files: no published checksum"
        matched = md5_of(path) == self.spec.md5
        if not matched and origin in ("cache", "download"):
            raise DataError(f"{path} is corrupt: its md5 differs from the published {self.spec.archive}")
        wanted = {f"{self.spec.folder}/{n}": n for n in names}
        blobs: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r:gz") as archive:
                for member in archive:  # one pass: a gzip stream read backwards is read again from the start
                    handle = (
                        archive.extractfile(member) if member.name in wanted and member.isfile() else None
                    )
                    if handle is not None:
                        blobs[wanted[member.name]] = handle.read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .tar.gz ({exc})") from None
        missing = [f"{self.spec.folder}/{n}" for n in names if n not in blobs]
        if missing:
            raise DataError(f"{path}: no {', '.join(missing)} inside (as a regular file)")
        return {n: blobs[n] for n in names}, "md5 matched" if matched else "differs from the published files"

    def _records(self, blob: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(n, 3, 32, 32)`` and class labels of one file's fixed-size records; a truncated
        file or a label out of range is one clear error naming the file."""
        size = self.spec.label_bytes + PIXELS
        if not blob or len(blob) % size:
            raise DataError(f"{what}: {len(blob)} bytes is not a whole number of {size}-byte records")
        records = np.frombuffer(blob, np.uint8).reshape(-1, size)
        labels = records[:, : self.spec.label_bytes].astype(np.int64)
        for byte, n in enumerate(self.spec.classes_given):
            if labels[:, byte].max() >= n:
                raise DataError(f"{what}: a label byte reads {labels[:, byte].max()}, outside 0..{n - 1}")
        x = records[:, self.spec.label_bytes :].reshape(-1, 3, 32, 32).copy()
        return x, labels[:, self.spec.label]


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The 20 superclasses, in the order of the release's coarse_label_names.txt.
CIFAR100_SUPERCLASSES = (
    "aquatic mammals", "fish", "flowers", "food containers", "fruit and vegetables",
    "household electrical devices", "household furniture", "insects", "large carnivores",
    "large man-made outdoor things", "large natural outdoor scenes", "large omnivores and herbivores",
    "medium mammals", "non-insect invertebrates", "people", "reptiles", "small mammals", "trees",
    "vehicles 1", "vehicles 2",
)  # fmt: skip
CIFAR100 = dict(
    archive="cifar-100-binary.tar.gz",
    md5="03b5dce01913d631647c71ecec9e9cb8",
    folder="cifar-100-binary",
    train=("train.bin",),
    test="test.bin",
    label_bytes=2,
    classes_given=(20, 100),
    home="cifar100",
)
# The 100 classes, in the order of the release's fine_label_names.txt.
CIFAR100_CLASSES = (
    "apple", "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn mower", "leopard", "lion", "lizard", "lobster", "man", "maple tree", "motorcycle",
    "mountain", "mouse", "mushroom", "oak tree", "orange", "orchid", "otter", "palm tree", "pear",
    "pickup truck", "pine tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon",
    "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow tree", "wolf", "woman", "worm",
)  # fmt: skip


@register_dataset("cifar10", summary="CIFAR-10, 32x32 colour, 10 classes, 50,000 + 10,000 (binary release)")
class Cifar10(CifarDataset):
    spec = CifarSpec(
        name="cifar10",
        archive="cifar-10-binary.tar.gz",
        md5="c32a1d4ab5d03f1284b67883e8d87530",
        folder="cifar-10-batches-bin",
        train=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        test="test_batch.bin",
        label_bytes=1,
        label=0,
        class_names=CIFAR10_CLASSES,
        classes_given=(10,),
    )


@register_dataset(
    "cifar100", summary="CIFAR-100 by its 20 superclasses (as one-class papers use it), 32x32 colour"
)
class Cifar100(CifarDataset):
    spec = CifarSpec(name="cifar100", label=0, class_names=CIFAR100_SUPERCLASSES, **CIFAR100)


@register_dataset("cifar100-fine", summary="CIFAR-100 by its 100 fine classes, 32x32 colour")
class Cifar100Fine(CifarDataset):
    spec = CifarSpec(name="cifar100-fine", label=1, class_names=CIFAR100_CLASSES, **CIFAR100)
