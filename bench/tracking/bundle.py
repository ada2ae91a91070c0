"""A bundle: an experiment's cell runs as files that travel, verified before anything reads them.

A folder with ``cells.parquet`` (one row per cell run: its status, times and name, then its
``tags.*``, ``params.*`` and ``metrics.*`` as columns, the layout of ``mlflow.search_runs``),
optionally ``scores.parquet`` (every test image's score and labels, by the run it came from), and
``manifest.json``: the format, bench's version, what was exported, the n/a notes of its sweeps,
and the sha256 of every file. Plain columnar tables, no pickles: any tool can read one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError

FORMAT = 1  # bumped when a bundle's files change in a way an older bench could misread
MANIFEST, CELLS, SCORES = "manifest.json", "cells.parquet", "scores.parquet"
__all__ = ["CELLS", "FORMAT", "MANIFEST", "SCORES", "Bundle", "read_bundle", "write_bundle"]


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its manifest and its tables."""

    path: Path
    manifest: dict[str, Any]
    cells: pd.DataFrame
    scores: pd.DataFrame | None

    @property
    def id(self) -> str:
        """What imported runs are tagged with: the folder's name and its cells' digest."""
        return f"{self.manifest.get('name') or self.path.name}@{self.manifest['files'][CELLS]['sha256'][:12]}"

    @property
    def na(self) -> list[list[str]]:
        return self.manifest.get("na", [])


def write_bundle(
    folder: Path, cells: pd.DataFrame, scores: pd.DataFrame | None, about: dict[str, Any]
) -> Bundle:
    """Write a bundle into ``folder``: a bundle there is replaced whole (or, holding the same, left as it
    is), anything else refused."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise BenchError(f"{folder} holds files that are not a bundle: export into an empty or new folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{os.getpid()}.partial"  # whole, or not there at all
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        tables = {CELLS: cells, **({SCORES: scores} if scores is not None else {})}
        for name, table in tables.items():
            table.to_parquet(staging / name, index=False, compression="zstd")
        manifest = {
            "format": FORMAT,
            "name": folder.name,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **about,
            "files": {name: _file_entry(staging / name) for name in tables},
        }
        try:
            held = _verified_manifest(folder)
        except BenchError:  # none there, or one that no longer matches its manifest: replaced
            held = None
        if held is not None and {**held, "created": manifest["created"]} == manifest:
            return Bundle(folder, held, cells, scores)  # the same bundle: left as it is, date and all
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Bundle(folder, manifest, cells, scores)


def read_bundle(folder: Path) -> Bundle:
    """The bundle in ``folder``, every file checked against its manifest; BenchError (one line)
    for a missing or changed file, an unreadable manifest, or a format newer than this bench reads."""
    manifest = _verified_manifest(folder)
    files = manifest["files"]
    try:
        cells = pd.read_parquet(folder / CELLS)
        scores = pd.read_parquet(folder / SCORES) if SCORES in files else None
    except Exception as exc:  # verified bytes that are not Parquet: a bundle written wrong
        raise BenchError(f"{folder}: cannot read its tables ({type(exc).__name__}: {exc})") from None
    return Bundle(folder, manifest, cells, scores)


def _verified_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the bundle in ``folder``, every file checked against it (BenchError if not)."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        version = int(manifest["format"])
    except FileNotFoundError:
        raise BenchError(f"{folder} is not a bundle: it has no {MANIFEST}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path} is not a bundle manifest ({type(exc).__name__}: {exc})") from None
    if version > FORMAT:
        raise BenchError(
            f"{folder} is a format-{version} bundle and this bench reads format {FORMAT}: upgrade bench"
        )
    if CELLS not in files or set(files) - {CELLS, SCORES}:
        raise BenchError(f"{path} lists {sorted(files)}; a bundle holds {CELLS} and optionally {SCORES}")
    for name, entry in files.items():
        if not (folder / name).is_file():
            raise BenchError(f"{folder} is incomplete: {name} is missing")
        if _file_entry(folder / name) != entry:
            raise BenchError(f"{folder / name} does not match its manifest's sha256: the bundle was changed")
    return manifest


def _file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}
