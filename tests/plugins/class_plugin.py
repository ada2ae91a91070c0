"""Plugin classes that entry points name directly, one without a decorator and one with."""

import numpy as np

from bench import Method, register_method


class MeanPixels(Method):
    """Registered only by an entry point that names it."""

    def fit(self, train, env):
        self.mean_ = train.x.mean(axis=0)
        return self

    def score(self, x):
        self._check_fitted("mean_")
        return np.abs(x - self.mean_).reshape(len(x), -1).mean(axis=1)


@register_method("ep-decorated", family="test")
class Decorated(MeanPixels):
    """Its decorator registers it on import; an entry point naming it must not register it twice."""


NOT_A_METHOD = 42
