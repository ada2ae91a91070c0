"""Hyperparameters as a method declares them: name, type and default in ``__init__``, range beside them.

A plugin writes ``epochs: Annotated[int, Range(ge=1)] = 20``: the annotation
gives the type, ``Range`` the values that make sense, the default the rest.
The harness checks every value a user sets (``--set``, ``--params-from``)
against that declaration before any cell runs, and the search spaces against
it when a method registers, so tuning never proposes a value a user could not
set. Parameters without an annotation take the type of their default.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from bench.contract.space import Choice, Dim, Float, Int
from bench.errors import BenchError

__all__ = [
    "Annotated",
    "Count",
    "Fraction",
    "Hyper",
    "NonNegative",
    "Positive",
    "Range",
    "Widths",
    "allowed_values",
    "check_params",
    "check_space",
    "declared_from_signature",
    "resolve_space",
]


@dataclass(frozen=True)
class Range:
    """Bounds on a number (or on each number of a tuple): ``Range(ge=1)``, ``Range(ge=0, lt=0.5)``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value: float) -> bool:
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def words(self) -> str:
        """``>= 1``, ``> 0``, ``in [0, 0.5)``: what the bounds ask for."""
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt) if self.gt is not None else None
        high = ("]", self.le) if self.le is not None else (")", self.lt) if self.lt is not None else None
        if low and high:
            return f"in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
        if low:
            return f"{'>=' if low[0] == '[' else '>'} {low[1]:g}"
        if high:
            return f"{'<=' if high[0] == ']' else '<'} {high[1]:g}"
        return "any number"


@dataclass(frozen=True)
class Hyper:
    """One declared hyperparameter; ``kind`` None accepts any value (no annotation, no default)."""

    name: str
    kind: Any
    default: Any
    range: Range | None = None

    def check(self, value: Any) -> Any:
        """``value`` as the method will get it (lists as tuples, ints as floats where a float is
        declared), or ValueError with one line naming the parameter, the value and what it takes."""
        ok, converted = _conform(value, self.kind)
        if not ok:
            raise ValueError(f"{self.name} takes {type_words(self.kind)}, not {value!r}")
        if self.range is not None:
            numbers = converted if isinstance(converted, tuple) else (converted,)
            numbers = [n for n in numbers if isinstance(n, (int, float)) and not isinstance(n, bool)]
            if not all(self.range.holds(n) for n in numbers):
                raise ValueError(f"{self.name} must be {self.range.words()}, not {value!r}")
        return converted


Count = Annotated[int, Range(ge=1)]  # epochs, batch sizes, clusters, reference set sizes
Widths = Annotated[tuple[int, ...], Range(ge=1)]  # layer widths
Positive = Annotated[float, Range(gt=0)]  # learning rates, scales
NonNegative = Annotated[float, Range(ge=0)]  # weight decay, loss weights, k in mean + k std
Fraction = Annotated[float, Range(gt=0, lt=1)]  # held-out shares


def declared_from_signature(cls: type) -> dict[str, Hyper]:
    """The keyword arguments of ``cls.__init__`` with their annotated types, ranges and defaults."""
    try:
        hints = typing.get_type_hints(cls.__init__, include_extras=True)
    except NameError as exc:  # string annotations name what the plugin's module does not define
        raise TypeError(f"the annotations of {cls.__name__}.__init__ do not resolve: {exc}") from None
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = None if p.default is p.empty else p.default
        kind, bounds = _split_annotation(hints.get(p.name))
        if kind is None and default is not None:
            kind = type(default)
        out[p.name] = Hyper(p.name, kind, default, bounds)
    return out


def check_params(method: str, declared: dict[str, Hyper], values: dict[str, Any]) -> dict[str, Any]:
    """Every value checked against its declaration; BenchError (one line) on the first bad one."""
    out = {}
    for name, value in values.items():
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise BenchError(f"{method} has no hyperparameter {name!r} (it has: {known})")
        try:
            out[name] = declared[name].check(value)
        except ValueError as exc:
            raise BenchError(f"{method}: {exc}") from None
    return out


def allowed_values(kind: Any) -> tuple[Any, ...] | None:
    """The finite set of values a declared type allows (``Literal[...]``, bool), else None."""
    if typing.get_origin(kind) is Literal:
        return typing.get_args(kind)
    return (False, True) if kind is bool else None


def resolve_space(method: str, declared: dict[str, Hyper], space: dict[str, Dim]) -> dict[str, Dim]:
    """``space`` with each ``Choice()`` given the values its hyperparameter's declaration allows, and
    checked (``check_space``)."""
    out = dict(space)
    for name, dim in space.items():
        if isinstance(dim, Choice) and not dim.options and name in declared:
            values = allowed_values(declared[name].kind)
            if values is None:
                words = type_words(declared[name].kind)
                raise ValueError(f"{method}: Choice() for {name} needs a set of values; it takes {words}")
            out[name] = Choice(values)
    check_space(method, declared, out)
    return out


def check_space(method: str, declared: dict[str, Hyper], space: dict[str, Dim]) -> None:
    """Every value a search space can propose must be one a user could set (ValueError if not)."""
    for name, dim in space.items():
        if name not in declared:
            raise ValueError(f"{method}: search space names {name!r}, which is not a hyperparameter")
        hyper = declared[name]
        values = list(dim.options) if isinstance(dim, Choice) else [dim.low, dim.high]
        if isinstance(dim, Int):
            values = [int(v) for v in values]
        try:
            for value in values:
                hyper.check(value)
        except ValueError as exc:
            refused = f"{method}: the search space of {name} proposes what it refuses"
            raise ValueError(f"{refused}: {exc}") from None
        if isinstance(dim, Float) and dim.log and dim.low <= 0:
            raise ValueError(f"{method}: {name} is searched on a log scale from {dim.low}")


def _split_annotation(annotation: Any) -> tuple[Any, Range | None]:
    """(the type, its Range): ``Annotated[int, Range(ge=1)] | None`` gives ``(int | None, Range(ge=1))``."""
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        return base, next((e for e in extras if isinstance(e, Range)), None)
    if _is_union(annotation):
        members = [_split_annotation(m) for m in typing.get_args(annotation)]
        bounds = next((b for _, b in members if b is not None), None)
        return Union[tuple(m for m, _ in members)], bounds  # noqa: UP007 (built from a tuple)
    return annotation, None


def _is_union(kind: Any) -> bool:
    return typing.get_origin(kind) in (Union, types.UnionType)


def _conform(value: Any, kind: Any) -> tuple[bool, Any]:
    """(whether ``value`` is of ``kind``, the value converted)."""
    if kind is None or kind is Any:
        return True, value
    if _is_union(kind):
        for member in typing.get_args(kind):
            ok, converted = _conform(value, member)
            if ok:
                return True, converted
        return False, value
    if kind is type(None):
        return value is None, value
    origin = typing.get_origin(kind)
    if origin is Literal:
        return value in typing.get_args(kind), value
    if origin is tuple or kind is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(kind)
        members = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if not args:
            return True, tuple(value)
        if len(members) != len(value):
            return False, value
        parts = [_conform(v, k) for v, k in zip(value, members, strict=True)]
        return all(ok for ok, _ in parts), tuple(v for _, v in parts)
    if kind is bool:
        return isinstance(value, bool), value
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        return False, value
    return isinstance(value, kind), value


def type_words(kind: Any) -> str:
    """``int``, ``float or None``, ``a tuple of int``, ``one of 'dense', 'conv'``: for error lines."""
    if kind is None or kind is Any:
        return "any value"
    if _is_union(kind):
        return " or ".join(type_words(k) for k in typing.get_args(kind))
    if kind is type(None):
        return "None"
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(kind))
    if origin is tuple or kind is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {type_words(args[0])}"
        return f"a list of {len(args)} ({', '.join(type_words(a) for a in args)})" if args else "a list"
    return getattr(kind, "__name__", str(kind))
