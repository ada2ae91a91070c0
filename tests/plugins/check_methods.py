"""Methods for `bench check`: one that passes, one that fails, one that fails where it is allowed to."""

from typing import ClassVar

import numpy as np

from bench.api import Method, register_method


@register_method("check-good")
class Good(Method):
    def fit(self, train, env):
        self.mean_ = train.x.mean(axis=0)
        return self

    def score(self, x):
        self._check_fitted("mean_")
        return np.abs(x - self.mean_).reshape(len(x), -1).mean(axis=1)


@register_method("check-constant")
class Constant(Good):
    def score(self, x):
        self._check_fitted("mean_")
        return np.zeros(len(x))


@register_method("check-inverted")
class Inverted(Good):
    allowed_failures: ClassVar[dict[str, str]] = {
        "check_planted_outliers_found": "inverted on purpose",
        "check_colour_images": "inverted on purpose",
    }

    def score(self, x):
        return -super().score(x)
