"""scikit-learn's bundled 8x8 handwritten digits: the embedded default, always available."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from bench.api import Dataset, DatasetSource, register_dataset, stratified_split


@register_dataset("digits", summary="scikit-learn's 1,797 8x8 digits; fixed stratified 70/30 split")
class Digits(DatasetSource):
    def load(self, data_dir: str | None = None) -> Dataset:
        bunch = load_digits()
        # Pixel values are 0..16: rescale to the full uint8 range like every other dataset.
        x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
        x_tr, y_tr, x_te, y_te = stratified_split(x, bunch.target.astype(np.int64))
        return Dataset(
            name="digits",
            x_train=x_tr,
            y_train=y_tr,
            x_test=x_te,
            y_test=y_te,
            class_names=tuple(str(i) for i in range(10)),
            source="sklearn.datasets.load_digits",
            checksums="bundled with scikit-learn",
        )

    def where(self, data_dir: str | None = None) -> str:
        return "available: bundled with scikit-learn"
