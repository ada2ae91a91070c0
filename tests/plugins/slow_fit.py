"""A method whose fit takes a known time, 2 s asleep: a cell run's duration is checked against it."""

import time

import numpy as np

from bench.api import Method, register_method


@register_method("sleeps-2s", family="test")
class SleepsTwoSeconds(Method):
    """Each image's mean distance to the mean training image, after a 2 s fit."""

    def fit(self, train, env):
        time.sleep(2.0)
        self.mean_ = train.x.mean(axis=0)
        return self

    def score(self, x):
        self._check_fitted("mean_")
        return np.abs(x - self.mean_).reshape(len(x), -1).mean(axis=1)
