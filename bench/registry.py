"""Name -> factory registries for methods and datasets, with entry-point plugins.

A registry holds entries registered under explicit names, plus *families*: a
prefix such as ``pyod`` whose resolver builds an entry for ``pyod:<Name>`` on
demand. Duplicates raise; unknown names list the known ones and the closest match.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from bench.errors import BenchError, UnknownNameError, first_line

T = TypeVar("T")

ANOMALY_LABELS = "anomaly_labels"
CLASS_LABELS = "class_labels"
LABELED_SET = "labeled_set"  # a few class-labeled normal images beside unlabeled training data
KNOWN_NEEDS = frozenset({ANOMALY_LABELS, CLASS_LABELS, LABELED_SET})


@dataclass(frozen=True)
class MethodInfo:
    """What the harness knows about a method without building it."""

    name: str
    needs: frozenset[str] = frozenset()
    family: str = ""
    paper: str = ""
    pretrained: str = ""  # what outside data its weights were trained on: marked in every leaderboard
    distribution: str = ""  # "name version" of the installed package whose entry point registered it


@dataclass(frozen=True)
class DatasetInfo:
    """What the harness knows about a dataset without loading it."""

    name: str
    summary: str = ""


class Registry(Generic[T]):
    """Entries by explicit name; families resolve ``prefix:arg`` names lazily."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, tuple[Any, T]] = {}
        self._families: dict[str, tuple[str, Callable[[str], tuple[Any, T]]]] = {}

    def add(self, info: Any, obj: T) -> None:
        name = info.name
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if ":" in name:
            raise ValueError(f"{self.kind} names may not contain ':' ({name!r})")
        self._entries[name] = (info, obj)

    def add_family(self, prefix: str, hint: str, resolver: Callable[[str], tuple[Any, T]]) -> None:
        if prefix in self._families:
            raise ValueError(f"{self.kind} family {prefix!r} is already registered")
        self._families[prefix] = (hint, resolver)

    def get(self, name: str) -> tuple[Any, T]:
        """The (info, object) registered under ``name``, or a clear UnknownNameError."""
        if name in self._entries:
            return self._entries[name]
        prefix, sep, arg = name.partition(":")
        if sep and prefix in self._families:
            return self._families[prefix][1](arg)
        known = sorted(self._entries)
        close = difflib.get_close_matches(name, known + [f"{p}:" for p in self._families], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        families = "".join(f", {h}" for h, _ in self._families.values())
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint}; known: {', '.join(known)}{families}")

    def annotate(self, name: str, **changes: Any) -> None:
        """Replace fields of the info registered under ``name`` (e.g. the package it came from)."""
        info, obj = self._entries[name]
        self._entries[name] = (dataclasses.replace(info, **changes), obj)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def families(self) -> dict[str, str]:
        return {prefix: hint for prefix, (hint, _) in self._families.items()}

    def __iter__(self) -> Iterator[tuple[Any, T]]:
        return iter(self._entries[name] for name in self.names())

    def __contains__(self, name: str) -> bool:
        return name in self._entries


METHODS: Registry[type] = Registry("method")
DATASETS: Registry[Any] = Registry("dataset")


def register_method(
    name: str,
    *,
    needs: frozenset[str] | set[str] = frozenset(),
    family: str = "",
    paper: str = "",
    pretrained: str = "",
) -> Callable[[type], type]:
    """Class decorator: register a Method subclass under ``name``; ``pretrained`` names the outside
    data its weights come from (e.g. "ImageNet"), for methods not trained on the benchmark alone."""
    unknown = set(needs) - KNOWN_NEEDS
    if unknown:
        raise ValueError(f"unknown needs {sorted(unknown)}; known: {sorted(KNOWN_NEEDS)}")
    info = MethodInfo(name=name, needs=frozenset(needs), family=family, paper=paper, pretrained=pretrained)

    def decorate(cls: type) -> type:
        from bench.params import check_space  # a search space that proposes invalid values is a plugin bug

        for space in (getattr(cls, "search_space", {}), getattr(cls, "score_space", {})):
            if space:
                check_space(name, cls.hyperparameters(), space)
        METHODS.add(info, cls)
        return cls

    return decorate


def register_dataset(name: str, *, summary: str = "") -> Callable[[type], type]:
    """Class decorator: register a DatasetSource subclass (built with no arguments)."""

    def decorate(cls: type) -> type:
        DATASETS.add(DatasetInfo(name=name, summary=summary), cls())
        return cls

    return decorate


@dataclass
class _Loaded:
    done: bool = False
    plugins: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # plugin file -> the methods it registered


_state = _Loaded()


def load_plugins() -> None:
    """Import the built-in methods and datasets, then every ``bench.methods`` entry point."""
    if _state.done:
        return
    _state.done = True
    importlib.import_module("bench.methods")
    importlib.import_module("bench.datasets")
    for ep in entry_points(group="bench.methods"):
        load_entry_point(ep)


def load_entry_point(ep: EntryPoint) -> list[str]:
    """Load one plugin; the names of the methods it registered.

    An entry point names a module (its decorators register its methods) or a ``Method`` subclass
    (registered under the entry point's name, family ``third-party``, unless its decorator already
    registered it). Every method a package registers records the package's name and version.
    """
    before = set(METHODS.names())
    try:
        _load_entry_point(ep)
    except BenchError:
        raise
    except Exception as exc:  # a broken third-party plugin ends in one line that names it
        raise BenchError(
            f"plugin {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    package = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    added = sorted(set(METHODS.names()) - before)
    for name in added:
        METHODS.annotate(name, distribution=package)
    _state.plugins.append(f"{ep.name} = {ep.value}" + (f" ({package})" if package else ""))
    return added


def _load_entry_point(ep: EntryPoint) -> None:
    from bench.method import Method

    obj = ep.load()
    if isinstance(obj, ModuleType):
        return
    if isinstance(obj, type) and issubclass(obj, Method):
        if not any(cls is obj for _, cls in METHODS):
            register_method(ep.name, family="third-party")(obj)
        return
    raise BenchError(
        f"plugin {ep.name!r} ({ep.value}) names {type(obj).__name__} {getattr(obj, '__name__', '')!s}, "
        "not a module or a bench Method subclass"
    )


def loaded_plugins() -> list[str]:
    return list(_state.plugins)


def load_user_plugin(spec: str) -> list[str]:
    """Import a plugin given as a module name or a path to a .py file; its decorators register it.
    Returns the names of the methods it registered."""
    before = set(METHODS.names())
    datasets_before = set(DATASETS.names()) | set(DATASETS.families())
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise BenchError(f"--plugin {spec}: no such file")
        if str(path.resolve()) in _state.files:  # named twice (--plugin F check F): loaded once
            return _state.files[str(path.resolve())]
        mod_spec = importlib.util.spec_from_file_location(f"bench_user_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:  # the author's file: one line with where it broke
            del sys.modules[mod_spec.name]
            raise BenchError(
                f"plugin {spec}{_where(exc, path)}: {type(exc).__name__}: {first_line(exc)}"
            ) from exc
        _state.files[str(path.resolve())] = sorted(set(METHODS.names()) - before)
        datasets = (set(DATASETS.names()) | set(DATASETS.families())) - datasets_before
        if not _state.files[str(path.resolve())] and not datasets:
            raise BenchError(
                f"--plugin {spec} registers no method or dataset (@register_method or @register_dataset)"
            )
    else:
        try:
            importlib.import_module(spec)
        except ImportError as exc:
            raise BenchError(f"--plugin {spec}: {exc}") from None
    return sorted(set(METHODS.names()) - before)


def _where(exc: BaseException, path: Path) -> str:
    """``:LINE`` of the last frame in the plugin's own file, where the traceback has one."""
    import traceback

    if isinstance(exc, SyntaxError) and exc.lineno:
        return f":{exc.lineno}"
    lines = [
        f.lineno
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).resolve() == path.resolve()
    ]
    return f":{lines[-1]}" if lines else ""
