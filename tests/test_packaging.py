"""The built wheel installs exactly one top-level import name, ``bench``, with every sub-package and
every module of the source tree, each importable from the wheel alone."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT
from tests.test_layout import sources

IMPORT_ALL = """
import importlib, pkgutil, sys, bench
assert bench.__file__.startswith(sys.argv[1]), bench.__file__
names = [m.name for m in pkgutil.walk_packages(bench.__path__, "bench.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_each_imports_from_it(tmp_path):
    # From a copy without build/: setuptools leaves a moved module's old copy there, and would ship it.
    source = tmp_path / "source"
    leave_out = shutil.ignore_patterns("build", "*.egg-info", "results", ".git", "__pycache__", ".venv*")
    shutil.copytree(ROOT, source, ignore=leave_out)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*build, "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"bench"}
    assert not any(n.startswith(("datasets/", "methods/", "protocols/", "tests/")) for n in names)
    expected = {
        name.replace(".", "/") + (".py" if path.stem != "__init__" else "/__init__.py")
        for name, path in sources().items()
    }
    shipped = {n for n in names if n.endswith(".py")}
    assert shipped == expected, f"missing: {sorted(expected - shipped)}; stale: {sorted(shipped - expected)}"
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, str(site)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout) == len([n for n in sources() if n != "bench" and not n.endswith("__main__")])
