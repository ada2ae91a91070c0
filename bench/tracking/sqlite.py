"""Local SQLite stores (MLflow's, Optuna's) shared safely by any number of bench processes.

SQLite takes one writer at a time, and the first use of a fresh store migrates
its schema: two processes migrating at once crash in alembic. So a store is
created and migrated under a file lock beside it (``mlflow.db.lock``), a
sweep's check-then-create of a cell run happens under the same lock, and a
write that finds the database locked is tried again with backoff. A server
URI (``http://``, ``postgresql://``) needs none of this: the server serialises.
A new store is a copy of an empty one kept in bench's cache (``stores/``, one
per MLflow and SQLAlchemy version), made by MLflow's own migrations once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from filelock import FileLock

from bench.errors import BenchError
from bench.variables import cache_dir

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


def sqlite_uri(path: Path) -> str:
    """The SQLAlchemy URI of a SQLite file at ``path``, whatever its folder names hold: a ``?``, ``#``
    or ``%`` in a path would otherwise start a query or an escape and put the store elsewhere."""
    text = str(path.resolve())
    return "sqlite:///" + text.replace("%", "%25").replace("?", "%3F").replace("#", "%23")


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI (escapes decoded, as SQLAlchemy does), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri.removeprefix("sqlite:///").partition("?")[0]))


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


def remove_stray_folders(uri: str) -> None:
    """Undo MLflow making the folder of a ``sqlite:///`` URI's path with its escapes undecoded (an
    empty ``a%3Fb`` beside ``a?b``): nothing bench runs leaves a folder it did not ask for."""
    path = sqlite_path(uri)
    if path is None:
        return
    raw, real = Path(uri.removeprefix("sqlite:///").partition("?")[0]).parent, path.parent
    while raw != real and raw.is_dir() and not any(raw.iterdir()):
        raw.rmdir()
        raw, real = raw.parent, real.parent


def prepare_sqlite_store(uri: str, artifact_root: Path | None = None) -> str:
    """Make a new local SQLite store whole before anyone uses it; repair one an interrupt broke.

    MLflow creates a store's tables in many steps; an interrupt between them left a file that every
    later command failed on. So a new store is created in a temporary file beside it and renamed into
    place: ``mlflow.db`` is absent or whole. A store that MLflow cannot open and that holds no run
    (one an older bench left half-created) is moved aside and made anew. Call it under
    ``store_lock``. Returns a line saying what was repaired, or ''.
    """
    path = sqlite_path(uri)
    if path is None:
        return ""
    note = ""
    if path.exists() and not (_holds_runs(path) or _has_every_table(path)):
        aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        note = f"note: {path} was left half-made by an interrupted command: moved to {aside.name}, made anew"
    create_whole(uri, lambda tmp: _create_mlflow(tmp, artifact_root))
    return note  # a store that holds runs but will not open: MLflow says what is wrong with it


def create_whole(uri: str, create: Callable[[Path], None]) -> None:
    """A new local SQLite file made by ``create`` in a temporary file beside it, then renamed into
    place, so an interrupt leaves it absent or whole; nothing for an existing file or a server.
    Call it under ``store_lock``."""
    path = sqlite_path(uri)
    if path is None:
        return
    for left in path.parent.glob(f".{path.name}.*.new*"):  # a killed creation (and its journal)
        left.unlink(missing_ok=True)
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        create(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _create_mlflow(path: Path, artifact_root: Path | None) -> None:
    """MLflow's empty store at ``path``: a copy of the cached template when there is a whole one (MLflow
    migrates a new file through its whole history, a second of alembic each time), else made anew."""
    root = (artifact_root or path.parent / "artifacts").resolve()
    template = _mlflow_template()
    if template is not None:
        shutil.copyfile(template, path)
        if _has_every_table(path):
            _adopt(path, root)
            return
        path.unlink()
        template.unlink(missing_ok=True)  # damaged: the next new store makes it again
    _migrate_new(path, root)


def _migrate_new(path: Path, root: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(sqlite_uri(path), root.as_uri())  # every table, migrated to MLflow's head
    store.engine.dispose()  # every change is committed; no connection outlives the rename


def _mlflow_template() -> Path | None:
    """An empty store made by this MLflow and SQLAlchemy, kept in bench's cache; None where the cache
    cannot be written (every store is then made by MLflow itself)."""
    import mlflow
    import sqlalchemy

    path = cache_dir() / "stores" / f"mlflow-{mlflow.__version__}-sqlalchemy-{sqlalchemy.__version__}.db"
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(f"{path}.lock"):
                create_whole(sqlite_uri(path), lambda tmp: _migrate_new(tmp, tmp.parent / "artifacts"))
        except OSError:
            return None
    return path


def _adopt(path: Path, root: Path) -> None:
    """Give a copied template the Default experiment MLflow would have made here and now."""
    from mlflow.utils.uri import append_to_uri_path

    now = int(time.time() * 1000)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
            "WHERE experiment_id = 0",
            (append_to_uri_path(root.as_uri(), "0"), now, now),
        )


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)


def _has_every_table(path: Path) -> bool:
    """Whether the file holds every table of MLflow's schema and a schema version (read-only)."""
    from mlflow.store.db.base_sql_model import Base
    from mlflow.store.tracking.dbmodels import models  # noqa: F401 (declares the tables on Base)

    try:
        with contextlib.closing(read_only(path)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            versioned = "alembic_version" in tables and db.execute("SELECT * FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False
    return bool(versioned) and set(Base.metadata.tables) <= tables


def _holds_runs(path: Path) -> bool:
    """Whether the file may hold runs: only a readable SQLite file without any says no."""
    try:
        with contextlib.closing(read_only(path)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return "runs" in tables and db.execute("SELECT count(*) FROM runs").fetchone()[0] > 0
    except sqlite3.Error:
        return True  # not readable as SQLite at all: not bench's to move, MLflow will say what is wrong


def is_locked_error(exc: BaseException) -> bool:
    return "database is locked" in str(exc) or "database table is locked" in str(exc)


FULL_DISK_WORDS = ("No space left on device", "database or disk is full", "disk is full")


def is_full_disk(exc: BaseException | None) -> bool:
    """A write that failed because the disk (or the store's quota) is full: the exception, or any
    it was raised from (MLflow wraps SQLite's "database or disk is full" in an autoflush error)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or any(
            words in str(exc) for words in FULL_DISK_WORDS
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


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
    saved = {k: v for k, v in os.environ.items() if k in probe}  # MLflow's settings, set for a moment
    os.environ.update(probe)
    try:
        yield
    finally:
        for k in probe:
            os.environ.pop(k, None)
        os.environ.update(saved)
