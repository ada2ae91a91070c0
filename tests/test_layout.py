"""The code stays easy to change: small files, short functions, one name for the one package."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def sources() -> list:
    return sorted(p for folder in ("bench", "methods", "datasets") for p in (ROOT / folder).glob("*.py"))


def test_no_file_over_300_lines():
    long = {
        p.relative_to(ROOT).as_posix(): n
        for p in sources()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_function_over_60_lines():
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_module_imports():
    """Each module loads on its own (a name moved elsewhere fails here, not in a slow end-to-end test)."""
    import importlib

    for path in sources():
        package = {"bench": "bench", "methods": "bench.methods", "datasets": "bench.datasets"}[
            path.parent.name
        ]
        name = package if path.stem == "__init__" else f"{package}.{path.stem}"
        if path.stem != "__main__":
            importlib.import_module(name)
