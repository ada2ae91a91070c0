"""The environment variables bench reads, declared and read here alone; ``bench --help`` lists them.

(Not ``Env``, the fit context a method gets, nor the ``env.*`` provenance tags of ``bench.schema``.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str


VARIABLES = (
    Variable(
        "BENCH_RESULTS", "the folder runs write to and reports read (default: ./results); --results wins"
    ),
    Variable("BENCH_DATA", "a folder with dataset files, searched after --data-dir"),
    Variable(
        "BENCH_CACHE",
        "where downloads and an empty MLflow store (new stores copy it) are kept "
        "(default: $XDG_CACHE_HOME/bench)",
    ),
    Variable("BENCH_MIRRORS", "comma list of base URLs to download IDX datasets from, tried in order"),
    Variable("NUMBA_CACHE_DIR", "where Numba caches PyOD's compiled code (default: $BENCH_CACHE/numba)"),
    Variable("XDG_CACHE_HOME", "the cache's parent folder when BENCH_CACHE is unset (default: ~/.cache)"),
)
_DECLARED = {v.name for v in VARIABLES}


def get(name: str) -> str | None:
    """The value of a declared variable; unset and empty are both None."""
    if name not in _DECLARED:
        raise KeyError(f"{name} is not declared in bench.variables.VARIABLES")
    return os.environ.get(name) or None


def cache_dir() -> Path:
    """bench's cache: ``$BENCH_CACHE``, else ``bench`` in the XDG cache folder."""
    base = get("BENCH_CACHE") or os.path.join(get("XDG_CACHE_HOME") or Path.home() / ".cache", "bench")
    return Path(base)


def help_text() -> str:
    """The variables as ``bench --help`` ends with them."""
    width = max(len(v.name) for v in VARIABLES)
    return "environment variables:\n" + "\n".join(f"  {v.name:<{width}}  {v.meaning}" for v in VARIABLES)
