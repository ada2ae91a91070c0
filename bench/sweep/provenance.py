"""Where a cell's number came from: bench's version and commit, the libraries it ran with, the
machine, and the determinism in force, gathered in the process that ran the cell (a Ray worker
may be another host with other versions) and logged as ``env.*`` tags of its run."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

import bench
from bench import schema

LIBRARIES = {"pyod": "pyod", "sklearn": "scikit-learn"}  # tag -> distribution
__all__ = ["cell_environment", "checkout", "cpu_name", "software"]


def cell_environment(device: str, determinism: dict[str, str]) -> dict[str, str]:
    """Every provenance tag of a cell run on ``device`` in this process."""
    return {**software(), **machine(device), **determinism}


@functools.cache
def software() -> dict[str, str]:
    """bench's version (and its commit, where it runs from a checkout), Python and the libraries."""
    tags = {
        schema.ENV_BENCH: _version("bench"),
        schema.ENV_PYTHON: platform.python_version(),
        schema.ENV_TORCH: torch.__version__,
        schema.ENV_CUDA: torch.version.cuda or "none",
        schema.ENV_NUMPY: np.__version__,
    }
    tags.update({schema.ENV_LIBRARY + tag: _version(dist) for tag, dist in LIBRARIES.items()})
    source = Path(bench.__file__).resolve().parent.parent
    tags.update({f"{schema.ENV_BENCH}_{k}": v for k, v in checkout(source).items()})
    return tags


def checkout(root: Path) -> dict[str, str]:
    """The commit ``root`` is checked out at and whether tracked files differ from it; {} where
    ``root`` is not the top of a git checkout (an installed wheel, even one inside a project's repo)."""
    try:
        top, commit = _git(root, "rev-parse", "--show-toplevel", "HEAD").splitlines()
        if Path(top).resolve() != root.resolve():
            return {}
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError, ValueError):  # no git, no checkout
        return {}
    return {"commit": commit, "dirty": str(dirty).lower()}


def machine(device: str) -> dict[str, str]:
    """The CPU, and on CUDA the GPU's name and memory."""
    tags = {schema.ENV_CPU: cpu_name(), schema.ENV_DEVICE: device}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        tags |= {schema.ENV_GPU: props.name, schema.ENV_GPU_MEMORY: f"{props.total_memory / 2**30:.0f}"}
    return tags


@functools.cache
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
    done.check_returncode()
    return done.stdout


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
