#!/usr/bin/env bash
# A newcomer's path to a method of their own, timed command by command.
#
# In a fresh virtual environment: `bench new-method` writes a plugin, `bench check` runs the
# contract checks on it, `bench run --plugin` runs it on two digits classes; then a wheel of a tiny
# package whose entry point names a Method class is built and installed, `bench list` shows both
# methods, and the package's method is checked from a plain Python session and run. Everything it
# writes stays in WORKDIR (default: a new temporary folder).
#
# The environment sees the bench, torch, pip and setuptools of the Python that runs this (also
# when that Python is itself a virtual environment), as a user's project environment would. It
# is made --without-pip, so that Python 3.11's bundled setuptools 65, which cannot build wheels
# without the `wheel` package, does not hide the installed one.
#
#   bash benchmarks/newcomer.sh [WORKDIR]
set -euo pipefail
python=${PYTHON:-python}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"

step() {
    local start=$EPOCHREALTIME
    "$@"
    awk -v a="$start" -v b="$EPOCHREALTIME" -v cmd="$*" 'BEGIN { printf "TIME %6.1f s  %s\n", b - a, cmd }'
}

step "$python" -m venv --system-site-packages --without-pip venv
# Where the Python running this is itself a virtual environment, the new one sees its packages too.
"$python" - venv <<'PY'
import site
import sys
from pathlib import Path

if sys.prefix != sys.base_prefix:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pth = Path(sys.argv[1], "lib", version, "site-packages", "parent-environment.pth")
    pth.write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in site.getsitepackages()))
PY
# shellcheck disable=SC1091
source venv/bin/activate

step python -m bench new-method my-method
step python -m bench check my_method.py
step python -m bench --plugin my_method.py run --methods my-method --classes 0,1

# A package whose entry point names the class itself (no decorator).
mkdir -p meanpix-pkg/meanpix_pkg
cat > meanpix-pkg/pyproject.toml <<'EOF'
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "meanpix-pkg"
version = "0.1"
dependencies = []

[project.entry-points."bench.methods"]
meanpix = "meanpix_pkg:MeanPixelDistance"
EOF
cat > meanpix-pkg/meanpix_pkg/__init__.py <<'EOF'
"""Mean absolute distance to the mean training image."""

import numpy as np
from bench.api import Method


class MeanPixelDistance(Method):
    def __init__(self, *, power: float = 1.0) -> None:
        self.power = power

    def fit(self, train, env):
        self.mean_ = train.x.mean(axis=0)
        return self

    def score(self, x):
        self._check_fitted("mean_")
        return (np.abs(x - self.mean_) ** self.power).reshape(len(x), -1).mean(axis=1)
EOF

step python -m pip wheel --quiet --no-deps --no-build-isolation --no-index ./meanpix-pkg -w dist
step python -m pip install --quiet --no-deps --no-index dist/meanpix_pkg-0.1-py3-none-any.whl
step python -m bench list --plugin my_method.py
step python -c "from bench.contract.checks import run_checks; failed = run_checks('meanpix'); print('run_checks:', failed); assert not failed"
step python -m bench run --methods meanpix --classes 0,1
echo "newcomer path done in $work"
