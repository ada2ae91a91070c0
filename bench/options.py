"""Keyword arguments of ``bench.run`` and ``bench.tune`` as a config: the Python side of the flags.

A notebook writes ``classes=[0, 3]``, ``seeds=3``, ``params={"vae-elbo": {"arch": "conv"}}`` or
the flags' own text (``classes="0,3"``); each becomes the value the flag's parser gives, so one
config (``bench.config``) and one check serve both, and a bad value ends in the message the
command line prints.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bench.config import (
    SweepConfig,
    default,
    parse_classes,
    parse_seeds,
    split_datasets,
    split_list,
)
from bench.errors import BenchError

C = TypeVar("C", bound=SweepConfig)

# Names the flags also take (``--dataset``, ``--seed``, ``--known``, ``--set``) -> the field.
ALIASES = dict(
    dataset="datasets",
    protocol="protocols",
    seed="seeds",
    known="known_classes",
    set="overrides",
    plugin="plugins",
)


def config_of(cls: type[C], options: Mapping[str, Any]) -> C:
    """``cls`` with every option given (field names, their flag aliases, and ``params``), checked."""
    names = {f.name for f in dataclasses.fields(cls)}
    fields: dict[str, Any] = {}
    for given, value in options.items():
        name = ALIASES.get(given, given)
        if name == "params":
            if value is None:
                continue
            fields["overrides"] = (*fields.get("overrides", ()), *param_overrides(value))
            continue
        if name not in names:
            known = sorted(names | {"params"})
            close = difflib.get_close_matches(given, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BenchError(f"unknown option {given!r}{hint}; options: {', '.join(known)}")
        one = given == "seed" and not isinstance(value, (list, tuple, range))
        value = (_one_seed(value),) if one else _as_field(cls, name, value)
        fields[name] = (*fields.get(name, ()), *value) if name == "overrides" else value
    config = cls(**fields)
    config.check()
    return config


def param_overrides(params: Any) -> tuple[str, ...]:
    """``{"vae-elbo": {"arch": "conv"}}`` as the ``--set`` items that say the same."""
    if not isinstance(params, Mapping) or not all(isinstance(v, Mapping) for v in params.values()):
        raise BenchError(f"params takes {{METHOD: {{PARAM: VALUE}}}}, not {params!r}")
    return tuple(
        f"{method}.{name}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
        for method, values in params.items()
        for name, v in values.items()
    )


def _one_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BenchError(f"seed takes a seed >= 0, not {value!r}")
    return value


def _texts(flag: str, parse: Callable[[str], tuple[str, ...]], empty: bool = False) -> Callable[[Any], Any]:
    """A list option: the flag's text, parsed as the flag parses it, or a list of names."""

    def convert(value: Any) -> tuple[str, ...]:
        if isinstance(value, (str, os.PathLike)):
            return parse(os.fspath(value))
        items = tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
        if (not items and not empty) or not all(isinstance(v, str) for v in items):
            raise BenchError(f"{flag} takes a comma list or a list of names, not {value!r}")
        return items

    return convert


def _absolute(plugin: str) -> str:
    """A plugin file by its absolute path: worker processes may start in another folder."""
    return str(Path(plugin).resolve()) if plugin.endswith(".py") and Path(plugin).is_file() else plugin


def _classes(value: Any) -> tuple[int, ...] | None:
    if value is None or isinstance(value, str):
        return None if value is None else parse_classes(value)
    items = (value,) if isinstance(value, int) else tuple(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise BenchError(f"--classes takes 'all' or integers like 0,3,7, not {value!r}")
    return items


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        return parse_seeds(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_seeds(str(value))
    items = tuple(value)  # a list names the seeds, even a list of one
    if not items or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise BenchError(f"--seeds takes a count N or a list like 0,1,7, not {value!r}")
    if min(items) < 0:
        raise BenchError(f"--seeds takes seeds >= 0, not {min(items)}")
    return items


def _jobs(value: Any) -> int:
    if value in ("auto", 0):
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BenchError(f"--jobs takes auto or a count >= 1, not {value!r}")
    return value


CONVERT: dict[str, Callable[[Any], Any]] = {
    "methods": _texts("--methods", split_list),
    "datasets": _texts("--datasets", split_datasets),
    "protocols": _texts("--protocols", split_list),
    "plugins": lambda value: tuple(map(_absolute, _texts("--plugin", lambda t: (t,), empty=True)(value))),
    "params_from": _texts("--params-from", lambda text: (text,), empty=True),
    "overrides": _texts("--set", lambda text: (text,), empty=True),
    "classes": _classes,
    "known_classes": _classes,
    "seeds": _seeds,
    "jobs": _jobs,
    "gpus_per_cell": lambda value: value if value is None else _typed("gpus_per_cell", float, value),
}


def _as_field(cls: type[SweepConfig], name: str, value: Any) -> Any:
    """``value`` as the field's type, as its flag would have parsed it."""
    if name in CONVERT:
        return CONVERT[name](value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return _typed(name, type(default(cls, name)), value)


def _typed(name: str, kind: type, value: Any) -> Any:
    """``value`` as ``kind`` (a number from its text, as the flag takes it), or the flag's one line."""
    if value is None or kind is type(None) or isinstance(value, kind):
        return value
    try:
        if kind is bool or isinstance(value, bool):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise BenchError(f"--{name.replace('_', '-')} takes {kind.__name__}, not {value!r}") from None
