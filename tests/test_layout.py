"""The code stays easy to change: packages that show the architecture, small files, short functions,
no import circle, each environment variable read in one place, one name for the one package."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from tests.conftest import ROOT

MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60
# Folders installed under `bench` (pyproject's package-dir), and the import name of each.
PACKAGES = {
    "bench": "bench",
    "methods": "bench.methods",
    "datasets": "bench.datasets",
    "protocols": "bench.protocols",
}


def module_name(path: Path) -> str:
    top, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[top], *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    """Every module of every sub-package, by its import name."""
    found = (p for folder in PACKAGES for p in (ROOT / folder).rglob("*.py"))
    return {module_name(p): p for p in sorted(found) if "__pycache__" not in p.parts}


def test_no_file_over_300_lines():
    long = {
        p.relative_to(ROOT).as_posix(): n
        for p in sources().values()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"files over {MAX_FILE_LINES} lines (split inside its own package): {long}"


def test_no_function_over_60_lines():
    long = {}
    for path in sources().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_module_imports():
    """Each module loads on its own (a name moved elsewhere fails here, not in a slow end-to-end test)."""
    for name in sources():
        if not name.endswith("__main__"):
            importlib.import_module(name)


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the bench modules it imports anywhere: at the top, in functions, for type checks."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("bench")
            ):
                found |= {resolve(f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {resolve(a.name) for a in node.names if a.name.startswith("bench")}
        graph[name] = {m for m in found if m and m != name and not name.startswith(f"{m}.")}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle in ``graph``, as the modules along it; empty if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = 2
        path.pop()
        return []

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return []


def test_no_import_circle():
    """No module reaches itself through imports of any kind, type-only ones included."""
    found = cycle(imports(sources()))
    assert not found, "import circle: " + " -> ".join(found)


def test_the_circle_check_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_environment_variables_are_read_in_bench_variables_alone():
    """``os.environ`` and ``os.getenv`` are read only in bench/variables.py, which declares each variable
    for ``bench --help``; elsewhere bench may only pass the environment on or set a variable."""
    reads = []
    for path in sources().values():
        if path == ROOT / "bench" / "variables.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and ast.unparse(node.func) in ("os.environ.get", "os.getenv"):
                reads.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
            load = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
            if load and ast.unparse(node.value) == "os.environ":
                reads.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert not reads, f"read bench.variables.get instead (and declare the variable there): {reads}"


def test_every_name_the_benchmark_scripts_import_from_bench_exists():
    """benchmarks/*.py import inside functions, so nothing else would notice a name that moved."""
    missing = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench"):
                module = importlib.import_module(node.module)
                missing += [
                    f"{path.name}: {node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)
                ]
    assert not missing, missing


def test_built_in_plugins_import_from_bench_api_alone():
    """The methods, datasets and protocols bench ships are written as any plugin is: everything they
    take from bench comes through ``bench.api``, so the API holds what a plugin needs."""
    outside = []
    for folder in ("methods", "datasets", "protocols"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bench":
                    if node.module != "bench.api":
                        outside.append(f"{folder}/{path.name}:{node.lineno} from {node.module}")
                elif isinstance(node, ast.Import):
                    outside += [f"{folder}/{path.name}:{node.lineno} import {a.name}"
                                for a in node.names if a.name.split(".")[0] == "bench"]  # fmt: skip
    assert not outside, outside


def declared_layers() -> tuple[dict[str, int], set[tuple[str, str]]]:
    """docs/architecture.md's layer table (module or package -> layer) and its allowed exceptions."""
    text = (ROOT / "docs" / "architecture.md").read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers, exceptions = {}, set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            for name in re.findall(r"`([\w.]+)`", cells[1]):
                layers[name] = int(cells[0])
        elif len(cells) == 3 and cells[0].startswith("`bench") and cells[1].startswith("`bench"):
            exceptions.add((cells[0].strip("`"), cells[1].strip("`")))
    return layers, exceptions


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of the most specific row naming ``module`` or a package above it."""
    names = [n for n in layers if module == n or module.startswith(f"{n}.")]
    return layers[max(names, key=len)] if names else None


PLUGIN_FOLDERS = ("bench.methods", "bench.datasets", "bench.protocols")


def test_every_import_follows_the_declared_layers():
    layers, exceptions = declared_layers()
    graph = imports(sources())
    unplaced = sorted(m for m in graph if layer_of(m, layers) is None and not m.startswith(PLUGIN_FOLDERS))
    assert not unplaced, f"modules in no row of docs/architecture.md's layer table: {unplaced}"
    against = {
        (m, d)
        for m, deps in graph.items()
        if not m.startswith(PLUGIN_FOLDERS)
        for d in deps
        if layer_of(d, layers) > layer_of(m, layers)
    }
    assert against <= exceptions, f"imports against the layers: {sorted(against - exceptions)}"
    assert exceptions <= against, f"listed exceptions that no longer occur: {exceptions - against}"
    assert len(exceptions) <= 2


def test_the_layer_check_finds_an_import_against_the_layers():
    layers = {"bench.low": 1, "bench.high": 2, "bench.low.special": 3}
    assert layer_of("bench.low.x", layers) == 1 and layer_of("bench.low.special.y", layers) == 3
    assert layer_of("bench.other", layers) is None


def test_no_module_name_is_used_twice():
    """A module's name says which one it is: none repeats across bench's packages and plugin folders."""
    seen: dict[str, list[str]] = {}
    for folder in ("bench", "methods", "datasets", "protocols"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name not in ("__init__.py", "__main__.py"):
                seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in seen.items() if len(paths) > 1}


def test_the_run_schema_s_keys_are_typed_in_bench_schema_alone():
    """Every tag key bench writes is declared once, in bench/schema.py: none is typed as a string (or
    inside an MLflow filter or SQL text) anywhere else in bench. Docstrings may name them."""
    from bench import schema

    keys = set(schema.DECLARED.values())
    found = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        if path.name == "schema.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
                quoted = {k for k in keys if text == k or f"`{k}`" in text or f"'{k}'" in text}
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {k}" for k in sorted(quoted)]
    assert not found, found
