"""Plugin classes that entry points name directly, one without a decorator and one with."""

import numpy as np

from bench.api import Method, register_method


class MeanPixels(Method):
    """Registered only by an entry point that names it: each image's mean brightness against the
    training images'."""

    def fit(self, train, env):
        self.brightness_ = float(train.x.mean())
        return self

    def score(self, x):
        return np.abs(x.reshape(len(x), -1).mean(axis=1) - self.brightness_)


@register_method("ep-decorated", family="test")
class Decorated(MeanPixels):
    """Its decorator registers it on import; an entry point naming it must not register it twice."""


NOT_A_METHOD = 42
