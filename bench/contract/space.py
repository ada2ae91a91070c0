"""Search-space dimensions a plugin declares next to its defaults, independent of any tuner.

``search_space`` lists hyperparameters that ``bench tune`` may change (a refit
each); ``score_space`` lists parameters of the score that can change after fit,
searched with the threshold by ``--threshold tuned``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """A set of values to try. ``Choice()`` with none given tries every value the hyperparameter's
    declaration allows (a ``Literal[...]``, a bool), so the set is written once, where the type
    check reads it too; registration fills them in."""

    options: tuple[Any, ...] = ()


Dim = Float | Int | Choice
Space = dict[str, Dim]


def suggest(trial: Any, name: str, dim: Dim) -> Any:
    """Ask an Optuna trial for one value of ``dim``."""
    if isinstance(dim, Float):
        return trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    if isinstance(dim, Int):
        return trial.suggest_int(name, dim.low, dim.high, log=dim.log)
    # Optuna stores categorical choices as plain values: index them, return the option.
    index = trial.suggest_categorical(name, [str(o) for o in dim.options])
    return dim.options[[str(o) for o in dim.options].index(index)]


def suggest_all(trial: Any, space: dict[str, Dim]) -> dict[str, Any]:
    return {name: suggest(trial, name, dim) for name, dim in space.items()}


def decode(space: dict[str, Dim], raw: dict[str, Any]) -> dict[str, Any]:
    """Optuna's stored parameters (choices as strings) as the values ``suggest`` returned."""
    out = {}
    for name, dim in space.items():
        value = raw[name]
        out[name] = (
            dim.options[[str(o) for o in dim.options].index(value)] if isinstance(dim, Choice) else value
        )
    return out
