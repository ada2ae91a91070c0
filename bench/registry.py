"""Name -> factory registries for methods and datasets, with entry-point plugins.

A registry holds entries registered under explicit names, plus *families*: a
prefix such as ``pyod`` whose resolver builds an entry for ``pyod:<Name>`` on
demand. Duplicates raise; unknown names list the known ones and the closest match.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from bench.errors import BenchError, UnknownNameError

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


_state = _Loaded()


def load_plugins() -> None:
    """Import the built-in methods and datasets, then every ``bench.methods`` entry point."""
    if _state.done:
        return
    _state.done = True
    importlib.import_module("bench.methods")
    importlib.import_module("bench.datasets")
    for ep in entry_points(group="bench.methods"):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide the others
            raise BenchError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
        _state.plugins.append(f"{ep.name} = {ep.value}")


def loaded_plugins() -> list[str]:
    return list(_state.plugins)


def load_user_plugin(spec: str) -> None:
    """Import a plugin given as a module name or a path to a .py file; its decorators register it."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise BenchError(f"--plugin {spec}: no such file")
        mod_spec = importlib.util.spec_from_file_location(f"bench_user_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_spec.name] = module
        mod_spec.loader.exec_module(module)
    else:
        try:
            importlib.import_module(spec)
        except ImportError as exc:
            raise BenchError(f"--plugin {spec}: {exc}") from None
