"""FashionMNIST and MNIST from IDX files: found on disk, else downloaded and verified.

Search order: ``--data-dir`` (and its ``<name>/`` sub-folder), ``$BENCH_DATA``
(likewise), the Debian package location, then the download cache. Files in
the Debian location are checked against the SHA-256 of their decompressed
streams (Debian recompressed the .gz files, so upstream md5s differ);
downloads are checked against the published .gz md5. ``$BENCH_MIRRORS``
(comma-separated base URLs) replaces the default mirrors.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.api import (
    DataError,
    Dataset,
    DatasetSource,
    cache_dir,
    download,
    env_value,
    parse_idx,
    read_bytes,
    register_dataset,
    search_dirs,
)

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class IdxSpec:
    name: str
    class_names: tuple[str, ...]
    mirrors: tuple[str, ...]
    md5: dict[str, str]
    sha256: dict[str, str] = field(default_factory=dict)
    system_dir: str | None = None
    apt_package: str | None = None


class IdxDataset(DatasetSource):
    spec: IdxSpec

    def _candidates(self, data_dir: str | None) -> list[tuple[Path, str]]:
        return search_dirs(self.spec.name, data_dir, self.spec.system_dir)

    @staticmethod
    def _files_in(folder: Path) -> list[Path] | None:
        found = []
        for stem in FILES:
            hits = [folder / f"{stem}.gz", folder / stem]
            hit = next((p for p in hits if p.is_file()), None)
            if hit is None:
                return None
            found.append(hit)
        return found

    def _locate(self, data_dir: str | None) -> tuple[list[Path], str] | None:
        for folder, origin in self._candidates(data_dir):
            files = self._files_in(folder)
            if files:
                return files, origin
        return None

    def where(self, data_dir: str | None = None) -> str:
        hit = self._locate(data_dir)
        if hit:
            return f"available: {hit[0][0].parent} ({hit[1]})"
        how = f"apt-get install {self.spec.apt_package}, " if self.spec.apt_package else ""
        return f"not here: {how}--data-dir DIR, or downloaded on first use from {self._mirrors()[0]}"

    def _mirrors(self) -> tuple[str, ...]:
        given = env_value("BENCH_MIRRORS")
        return tuple(m.strip() for m in given.split(",") if m.strip()) if given else self.spec.mirrors

    def _download(self, data_dir: str | None) -> list[Path]:
        target = cache_dir() / self.spec.name
        files = []
        try:
            for stem in FILES:
                gz = f"{stem}.gz"
                dest = target / gz
                if not dest.is_file():
                    urls = [m.rstrip("/") + "/" + gz for m in self._mirrors()]
                    download(urls, dest, self.spec.md5[gz])
                files.append(dest)
        except DataError as exc:
            searched = ", ".join(str(p) for p, _ in self._candidates(data_dir))
            apt = f"run `apt-get install {self.spec.apt_package}`, or " if self.spec.apt_package else ""
            raise DataError(
                f"{self.spec.name}: files not found (searched {searched}) and download failed "
                f"({exc}). To provide them, {apt}put {', '.join(f + '.gz' for f in FILES)} "
                f"in a folder and pass --data-dir DIR (or set BENCH_DATA)"
            ) from None
        return files

    def load(self, data_dir: str | None = None) -> Dataset:
        hit = self._locate(data_dir)
        if data_dir and (hit is None or hit[1] != "--data-dir"):  # a named folder is never passed over
            found = (
                f"; found them in {hit[0][0].parent} ({hit[1]}): drop --data-dir to use those" if hit else ""
            )
            raise DataError(
                f"--data-dir {data_dir} holds no {self.spec.name} files ({', '.join(FILES)}, .gz or raw, "
                f"there or in {Path(data_dir) / self.spec.name}){found}"
            )
        files, origin = hit if hit else (self._download(data_dir), "download")
        read = [self._read(path, stem, origin) for path, stem in zip(files, FILES, strict=True)]
        x_tr, y_tr, x_te, y_te = (array for array, _ in read)
        verdicts = sorted({verdict for _, verdict in read})
        for x, y, path in ((x_tr, y_tr, files[0]), (x_te, y_te, files[2])):
            if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or len(x) != len(y):
                raise DataError(f"{path.parent}: images {x.shape} and labels {y.shape} do not match")
            if len(y) and (y.min() < 0 or y.max() >= len(self.spec.class_names)):
                raise DataError(f"{path.parent}: labels outside 0..{len(self.spec.class_names) - 1}")
        return Dataset(
            name=self.spec.name,
            x_train=x_tr[:, None],
            y_train=y_tr.astype(np.int64),
            x_test=x_te[:, None],
            y_test=y_te.astype(np.int64),
            class_names=self.spec.class_names,
            source=f"{files[0].parent} ({origin})",
            checksums="; ".join(verdicts),
        )

    def _read(self, path: Path, stem: str, origin: str) -> tuple[np.ndarray, str]:
        """The file's array, and what its checksum said: checked on every use, cached downloads too.

        Files bench trusts (the system package, its own cache) must match the published checksum;
        a user's own files may differ (the sweep notes it once, and every cell records it)."""
        data = read_bytes(path)
        expected = self.spec.sha256.get(stem)
        gz_md5 = self.spec.md5.get(f"{stem}.gz") if path.suffix == ".gz" else None
        kind = "SHA-256" if expected else "MD5" if gz_md5 else ""
        if expected:
            verdict = "sha256 matched" if hashlib.sha256(data).hexdigest() == expected else "differs"
        elif gz_md5:
            verdict = "md5 matched" if hashlib.md5(path.read_bytes()).hexdigest() == gz_md5 else "differs"
        else:
            verdict = "no published checksum"
        if verdict == "differs" and origin in ("system", "cache"):
            raise DataError(f"{path} is corrupt: its {kind} differs from the published {self.spec.name} file")
        if verdict == "differs":  # the plan says so once; each cell records it
            verdict = "differs from the published files"
        return parse_idx(data, str(path)), verdict


@register_dataset("fashion-mnist", summary="Zalando's FashionMNIST, 28x28, 60,000 + 10,000")
class FashionMNIST(IdxDataset):
    spec = IdxSpec(
        name="fashion-mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        system_dir="/usr/share/datasets/fashion-mnist",
        apt_package="dataset-fashion-mnist",
    )


@register_dataset("mnist", summary="LeCun's MNIST digits, 28x28, 60,000 + 10,000")
class MNIST(IdxDataset):
    spec = IdxSpec(
        name="mnist",
        class_names=tuple(str(i) for i in range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    )
