"""One shared set of contract checks over every registered method (and a PyOD family member)."""

import pytest

from bench.contract.checks import CHECKS
from bench.registry import METHODS

NAMES = [*METHODS.names(), "pyod:KDE"]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", NAMES)
def test_method_contract(name, check):
    reason = METHODS.get(name)[1].allowed_failures.get(check.__name__)
    if reason:
        pytest.xfail(reason)
    check(name)


def test_checks_catch_a_broken_method():
    """The checks are not vacuous: a method with constant scores fails them."""
    import numpy as np

    from bench.contract.checks import run_checks
    from bench.contract.method import Method
    from bench.registry import register_method

    @register_method("test-constant-scores")
    class Constant(Method):
        def fit(self, train, env):
            self.fitted_ = True
            return self

        def score(self, x):
            return np.zeros(len(x))

    try:
        failures = run_checks("test-constant-scores")
    finally:
        METHODS._entries.pop("test-constant-scores")
    assert "check_score_before_fit_raises" in failures
    assert "check_scores_shape_and_finite" in failures
    assert "check_planted_outliers_found" in failures


def test_a_grey_only_method_fails_the_colour_check():
    import numpy as np

    from bench.contract.checks import run_checks
    from bench.contract.method import Method
    from bench.registry import register_method

    @register_method("test-grey-only")
    class GreyOnly(Method):
        def fit(self, train, env):
            self.mean_ = train.x[:, 0].mean(axis=0)  # channel 0 of (n, c, h, w)...
            return self

        def score(self, x):
            self._check_fitted("mean_")
            return np.abs(x.reshape(len(x), -1) - self.mean_.reshape(-1)).mean(axis=1)  # ...as if c were 1

    try:
        failures = run_checks("test-grey-only")
    finally:
        METHODS._entries.pop("test-grey-only")
    assert list(failures) == ["check_colour_images"], failures
