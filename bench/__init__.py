"""bench: an open benchmark harness for image anomaly detection.

Plugin authors import from ``bench.api``; the command line is ``python -m bench``.
"""

__version__ = "0.1.0"

# Names a plugin imported from ``bench`` before ``bench.api`` held them: one line that says where.
_MOVED_TO_API = {
    "DeepMethod",
    "Env",
    "Method",
    "NotFittedError",
    "TrainData",
    "register_dataset",
    "register_method",
}


def __getattr__(name: str) -> object:
    if name in _MOVED_TO_API:
        raise ImportError(f"bench.{name} moved to bench.api: write `from bench.api import {name}`")
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
