"""Find dataset files on disk, or download them into a cache with checksums verified."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from bench import variables
from bench.errors import DataError

TIMEOUT_S = 20


def search_dirs(name: str, data_dir: str | None, system_dir: str | None = None) -> list[tuple[Path, str]]:
    """Where a dataset's files are looked for, in order, each with how it was named: ``--data-dir``
    and its ``NAME/`` sub-folder, ``$BENCH_DATA`` likewise, a system package's folder, bench's cache."""
    dirs: list[tuple[Path, str]] = []
    for base, origin in ((data_dir, "--data-dir"), (variables.get("BENCH_DATA"), "$BENCH_DATA")):
        if base:
            dirs += [(Path(base), origin), (Path(base) / name, origin)]
    if system_dir:
        dirs.append((Path(system_dir), "system"))
    dirs.append((variables.cache_dir() / name, "cache"))
    return dirs


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(urls: Iterable[str], dest: Path, md5: str) -> Path:
    """Fetch the first mirror that answers into ``dest``, keeping it only if its md5 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
                shutil.copyfileobj(resp, out)
            got = md5_of(tmp)
            if got != md5:
                errors.append(f"{url}: md5 {got} != expected {md5}")
                continue
            tmp.replace(dest)
            return dest
        except OSError as exc:
            errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {dest.name} ({'; '.join(errors)})")
