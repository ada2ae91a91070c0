"""bench: an open benchmark harness for image anomaly detection.

From Python (a notebook, a script)::

    import bench
    result = bench.run(methods=["pyod-knn", "ae-threshold"], classes=[0, 1])
    result.cells, result.leaderboard().board

``bench.run``, ``bench.tune``, ``bench.cells`` and ``bench.leaderboard`` are documented in
docs/python-api.md (imported at first use, so ``python -m bench`` starts quickly); plugin
authors import from ``bench.api``; the command line is ``python -m bench``.
"""

__version__ = "0.1.0"

# The Python API (bench.engine), imported when first used.
_ENGINE = {"run", "tune", "cells", "leaderboard", "RunResult"}
_EXCHANGE = {"import_bundle", "export_bundle", "reproduce"}  # bench.exchange: bundles
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
__all__ = ["RunResult", "cells", "export_bundle", "import_bundle", "leaderboard", "reproduce", "run", "tune"]


def __getattr__(name: str) -> object:
    if name in _ENGINE:
        from bench import engine

        return getattr(engine, name)
    if name in _EXCHANGE:
        from bench import exchange

        return getattr(exchange, name)
    if name in _MOVED_TO_API:
        raise ImportError(f"bench.{name} moved to bench.api: write `from bench.api import {name}`")
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_ENGINE, *_EXCHANGE])
