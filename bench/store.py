"""Local SQLite stores (MLflow's, Optuna's) shared safely by any number of bench processes.

SQLite takes one writer at a time, and the first use of a fresh store migrates
its schema: two processes migrating at once crash in alembic. So a store is
created and migrated under a file lock beside it (``mlflow.db.lock``), a
sweep's check-then-create of a cell run happens under the same lock, and a
write that finds the database locked is tried again with backoff. A server
URI (``http://``, ``postgresql://``) needs none of this: the server serialises.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock

from bench.errors import BenchError

T = TypeVar("T")
RETRIES = 8  # 0.05 s doubling: about 13 s of waiting in all before giving up


def writable_folder(path: Path, flag: str = "--results") -> Path:
    """``path``, made and checked writable, or BenchError: before anything is written there."""
    probe = path / f".write-test-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BenchError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def store_lock(uri: str, timeout: float = 120) -> Iterator[None]:
    """Hold the store's file lock (a local SQLite store only; servers serialise themselves)."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock", timeout=timeout):
        yield


def is_locked_error(exc: BaseException) -> bool:
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


def is_full_disk(exc: BaseException) -> bool:
    """A write that failed because the disk (or the store's quota) is full."""
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or any(
        words in text for words in ("No space left on device", "database or disk is full", "disk is full")
    )


def retrying(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, tried again with backoff while SQLite answers "database is locked"."""
    for attempt in range(RETRIES):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_locked_error(exc) or attempt == RETRIES - 1:
                raise
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def quiet_probe() -> Iterator[None]:
    """Fail fast against a dead server instead of MLflow's minutes of retries."""
    probe = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    saved = {k: os.environ.get(k) for k in probe}
    os.environ.update(probe)
    try:
        yield
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
        for k in [k for k, v in saved.items() if v is None]:
            del os.environ[k]
