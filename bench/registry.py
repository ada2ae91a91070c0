"""The registries of methods, datasets and protocols: name -> what builds it.

A registry holds entries registered under explicit names, plus *families*: a
prefix such as ``pyod`` whose resolver builds an entry for ``pyod:<Name>`` on
demand. Duplicates raise; unknown names list the known ones and the closest match.
Built-ins are found, never listed: on its first read a registry imports every
module of its package (``methods/``, ``datasets/``, ``protocols/``), whose
decorators register them. Third-party plugins load through ``bench.plugins``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bench.errors import UnknownNameError

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


@dataclass(frozen=True)
class ProtocolInfo:
    """What the harness knows about a protocol without running it."""

    name: str
    provides: frozenset[str]
    summary: str
    test_sets: int | None = None  # cells are numbered test sets instead of classes
    pad: int = 0  # blank pixels added on every side of every image
    classify: bool = False  # the labeled normal images of validation also train a classifier
    options: tuple[str, ...] = ()  # the ProtocolOptions fields it reads
    normal: str = "{k}"  # what is normal in cell k ({known}: the known classes, where given)
    # Reads a dataset's own split (its test_anomaly): it runs only on datasets that bring one, they
    # only under it; its validation holds normal images alone, so nothing can tune a threshold there.
    own_split: bool = False
    # The sizes the seed reports used (Sizes field -> count) under the given options, where the
    # protocol has absolute sizes: a split of other sizes was scaled to its dataset.
    seed_sizes: Callable[[Any], dict[str, int]] | None = None  # of ProtocolOptions
    # Bumped whenever a change alters any split this protocol makes (tests/test_split_versions.py
    # hashes them): cells of two versions are two protocols, never averaged or ranked together.
    version: int = 1


class Registry(Generic[T]):
    """Entries by explicit name; families resolve ``prefix:arg`` names lazily."""

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self.builtins = builtins  # the package whose every module registers built-in entries, if any
        self._found = builtins is None
        self._entries: dict[str, tuple[Any, T]] = {}
        self._families: dict[str, tuple[str, Callable[[str], tuple[Any, T]]]] = {}

    def discover(self) -> None:
        """Import the built-in package's modules once, so their decorators register them."""
        if not self._found:
            self._found = True
            for name in builtin_modules(self.builtins):
                importlib.import_module(name)

    def add(self, info: Any, obj: T) -> None:
        """Register ``obj`` under ``info.name``. A name registered before is refused, unless both were
        defined in ``__main__``: a notebook cell run again replaces its own earlier definition."""
        name = info.name
        if ":" in name:
            raise ValueError(f"{self.kind} names may not contain ':' ({name!r})")
        if name in self._entries:
            before = self._entries[name][1]
            if not (defined_in(before) == defined_in(obj) == "__main__"):
                by = defined_in(before) or "elsewhere"
                raise ValueError(f"{self.kind} {name!r} is already registered (by {by}); pick another name")
            print(
                f"bench: {self.kind} {name!r} registered again: this definition replaces the earlier one",
                file=sys.stderr,
            )
        self._entries[name] = (info, obj)

    def add_family(self, prefix: str, hint: str, resolver: Callable[[str], tuple[Any, T]]) -> None:
        if prefix in self._families:
            raise ValueError(f"{self.kind} family {prefix!r} is already registered")
        self._families[prefix] = (hint, resolver)

    def get(self, name: str) -> tuple[Any, T]:
        """The (info, object) registered under ``name``, or a clear UnknownNameError."""
        self.discover()
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
        self.discover()
        return sorted(self._entries)

    def families(self) -> dict[str, str]:
        self.discover()
        return {prefix: hint for prefix, (hint, _) in self._families.items()}

    def __iter__(self) -> Iterator[tuple[Any, T]]:
        return iter(self._entries[name] for name in self.names())

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._entries


def defined_in(obj: object) -> str:
    """The module a registered entry (a class, a dataset instance, a function) was defined in."""
    return getattr(obj if callable(obj) else type(obj), "__module__", "") or ""


def builtin_modules(package: str) -> list[str]:
    """The modules of a built-in package, by name, without importing them (``_private`` ones left out)."""
    path = importlib.import_module(package).__path__
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))


METHODS: Registry[type] = Registry("method", "bench.methods")
DATASETS: Registry[Any] = Registry("dataset", "bench.datasets")
# Protocol functions take (y_train, y_test, k, rng, opts); bench.data.protocol registers them.
PROTOCOLS: Registry[Callable[..., Any]] = Registry("protocol", "bench.protocols")


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
        # A search space that proposes a value its declaration refuses is a plugin bug; Choice()
        # takes the values the declaration allows.
        from bench.contract.params import resolve_space

        for which in ("search_space", "score_space"):
            space = getattr(cls, which, {})
            if space:
                setattr(cls, which, resolve_space(name, cls.hyperparameters(), space))
        check_reproducibility(name, getattr(cls, "reproducibility", ""))
        METHODS.add(info, cls)
        return cls

    return decorate


def check_reproducibility(name: str, declared: str) -> None:
    """A method's ``reproducibility``: "", "exact", "tolerance" or "chaotic: WHY" (ValueError if not)."""
    from bench.contract.method import CHAOTIC, EXACT, TOLERANCE

    if declared not in ("", EXACT, TOLERANCE) and not declared.startswith(f"{CHAOTIC}: "):
        allowed = f"'', {EXACT!r}, {TOLERANCE!r} or '{CHAOTIC}: WHY'"
        raise ValueError(f"{name}: reproducibility is {allowed}, not {declared!r}")


def register_dataset(name: str, *, summary: str = "") -> Callable[[type], type]:
    """Class decorator: register a DatasetSource subclass (built with no arguments)."""

    def decorate(cls: type) -> type:
        DATASETS.add(DatasetInfo(name=name, summary=summary), cls())
        return cls

    return decorate


def register_method_family(
    prefix: str, hint: str, *, family: str = "", paper: str = "", pretrained: str = ""
) -> Callable[[Callable[[str], type]], Callable[[str], type]]:
    """Function decorator: ``PREFIX:ARG`` names the Method subclass the function builds from ARG
    (``pyod:<ClassName>``); ``hint`` is how ``bench list`` shows the family."""

    def decorate(build: Callable[[str], type]) -> Callable[[str], type]:
        def resolve(arg: str) -> tuple[MethodInfo, type]:
            info = MethodInfo(f"{prefix}:{arg}", family=family or prefix, paper=paper, pretrained=pretrained)
            return info, build(arg)

        METHODS.add_family(prefix, hint, resolve)
        return build

    return decorate


def register_dataset_family(
    prefix: str, hint: str, *, summary: str = ""
) -> Callable[[Callable[[str], Any]], Callable[[str], Any]]:
    """Function decorator: ``PREFIX:ARG`` names the DatasetSource the function builds from ARG (a
    file, a folder: ``npz:FILE``, ``csv:FILE``); ``hint`` is how ``bench list`` shows the kind. The
    dataset is called by the source's ``name`` where it has one, else ``PREFIX:ARG``."""

    def decorate(build: Callable[[str], Any]) -> Callable[[str], Any]:
        def resolve(arg: str) -> tuple[DatasetInfo, Any]:
            source = build(arg)
            return DatasetInfo(getattr(source, "name", None) or f"{prefix}:{arg}", summary), source

        DATASETS.add_family(prefix, hint, resolve)
        return build

    return decorate


def register_protocol(
    name: str, provides: frozenset[str] | set[str], summary: str, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Function decorator: register a protocol's rules under ``name``. The function takes
    ``(y_train, y_test, k, rng, opts)`` (and ``test_anomaly`` where ``own_split=True``) and returns
    the (indices, anomaly labels) of train, val and test; ``extra`` sets the other ``ProtocolInfo``
    fields."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        PROTOCOLS.add(ProtocolInfo(name, frozenset(provides), summary, **extra), fn)
        return fn

    return decorate
