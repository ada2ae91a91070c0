"""The one configuration of a sweep or a study: CLI flags fill it by field name, saved as JSON.

``SweepConfig`` holds what ``run`` and ``tune`` share (the grid, the protocol
settings, where cells run, where results go); ``RunConfig`` and ``TuneConfig``
add what only one of them reads. Every default lives here: the CLI shows these
defaults and fills only the fields a user gave (``given``), and ``bench.options`` turns the
keyword arguments of ``bench.run`` into the same fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.protocol import ProtocolOptions
from bench.errors import BenchError


@dataclass(frozen=True)
class SweepConfig(ProtocolOptions):
    """The grid and where it runs; the protocols' options (``contamination``, ``anomaly_ratio``,
    ``known_classes``, ``labels``, ``min_test``) come from ``ProtocolOptions``, declared there once."""

    datasets: tuple[str, ...] = ("digits",)
    protocols: tuple[str, ...] = ("one-class",)
    classes: tuple[int, ...] | None = None  # None = every class (or test set) of each protocol
    seeds: tuple[int, ...] = (0,)
    overrides: tuple[str, ...] = ()  # "method.param=value"
    data_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"  # "fp32", "bf16", or auto: bf16 on CUDA where a method allows it
    deterministic: bool = False  # torch.use_deterministic_algorithms (cuDNN's flags are always set)
    fast_kernels: bool = False  # bench's own CPU kernels where torch's are slow (bench.nets.kernels)
    plugins: tuple[str, ...] = ()
    jobs: int = 0  # workers at once; 0 = auto (run: per core on CPU; tune: 1)
    executor: str = "local"  # or "ray"
    ray_address: str | None = None  # None: start a local Ray instance
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None  # None: 1 where the Ray cluster has GPUs, else 0
    results: str = "results"
    tracking_uri: str | None = None
    experiment: str = "bench"

    def check(self) -> None:
        """Settings that are wrong whatever the dataset: one line each (names are checked by ``plan``)."""
        super().check()
        if self.cpus_per_cell <= 0 or (self.gpus_per_cell is not None and self.gpus_per_cell < 0):
            raise BenchError("--cpus-per-cell must be > 0 and --gpus-per-cell >= 0")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


@dataclass(frozen=True)
class RunConfig(SweepConfig):
    methods: tuple[str, ...] = ("all",)
    threshold: str = "own"  # "tuned": also choose a threshold on validation (Optuna where needed)
    params_from: tuple[str, ...] = ()  # tune studies or their JSON files
    rerun: bool = False
    in_process: bool = False  # debugging: cells in the sweep's own process, unisolated
    figures: bool = True  # each cell run's ROC and score histogram (its scores.csv is logged either way)

    def check(self) -> None:
        super().check()
        if self.in_process and (self.executor != "local" or self.jobs > 1):
            raise BenchError("--in-process runs one cell at a time in this process: drop --jobs, --executor")


@dataclass(frozen=True)
class TuneConfig(SweepConfig):
    method: str = ""
    trials: int = 30  # finished (complete or pruned) trials the study should hold
    study: str | None = None  # default: METHOD.DATASET.PROTOCOL.cCLASSES.sSEED
    storage: str | None = None  # default: sqlite:///RESULTS/optuna.db

    def check(self) -> None:
        super().check()
        if self.trials < 1:
            raise BenchError("--trials needs at least 1")
        for option, values in (("--dataset", self.datasets), ("--protocol", self.protocols)):
            if len(values) != 1:
                raise BenchError(f"tune takes one {option}, not {','.join(values)}")
        if len(self.seeds) != 1:
            raise BenchError(f"tune takes one --seed, not {','.join(map(str, self.seeds))}")

    @property
    def seed(self) -> int:
        return self.seeds[0]


def given(cls: type[SweepConfig], args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` that parsed command-line arguments hold (the flags a user gave)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items() if k in names}


def default(cls: type[SweepConfig], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def split_list(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise BenchError(f"empty list: {text!r}")
    return items


def split_datasets(text: str) -> tuple[str, ...]:
    """``--datasets``: a comma list, where a comma inside an existing ``folder:`` or ``npz:`` path is
    part of the path (``folder:/data/a,b`` is one dataset when that folder exists)."""
    items: list[str] = []
    for piece in text.split(","):
        joined = f"{items[-1]},{piece}" if items else ""
        family, _, path = joined.partition(":")
        if items and family in PATH_FAMILIES and _exists_from(Path(path)):
            items[-1] = joined
        else:
            items.append(piece)
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise BenchError(f"empty list: {text!r}")
    return tuple(items)


PATH_FAMILIES = ("folder", "npz")


def _exists_from(path: Path) -> bool:
    """Whether ``path``, or a file or folder whose name starts with it, exists (``a,b`` for ``a,``)."""
    return path.exists() or (path.parent.is_dir() and any(path.parent.glob(f"{glob.escape(path.name)}*")))


def parse_classes(text: str) -> tuple[int, ...] | None:
    if text.strip() == "all":
        return None
    try:
        return tuple(int(c) for c in split_list(text))
    except ValueError:
        raise BenchError(f"--classes takes 'all' or integers like 0,3,7, not {text!r}") from None


def parse_seeds(text: str) -> tuple[int, ...]:
    """``N`` means seeds 0..N-1; a comma list names the seeds."""
    try:
        items = tuple(int(s) for s in split_list(text))
    except ValueError:
        raise BenchError(f"--seeds takes a count N or a list like 0,1,7, not {text!r}") from None
    if "," in text:
        if min(items) < 0:
            raise BenchError(f"--seeds takes seeds >= 0, not {min(items)}")
        return items
    if items[0] < 1:
        raise BenchError("--seeds N needs N >= 1")
    return tuple(range(items[0]))


def parse_overrides(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``method.param=value`` strings as {method: {param: value}}; values are JSON where they parse."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, param = key.rpartition(".")
        if not sep or not dot or not method or not param:
            raise BenchError(f"--set takes METHOD.PARAM=VALUE, not {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None if raw in ("None", "none") else raw
        value = tuple(value) if isinstance(value, list) else value
        given = out.setdefault(method, {})
        if param in given:
            raise BenchError(
                f"--set gives {method}.{param} twice ({given[param]!r}, then {value!r}); give it once"
            )
        given[param] = value
    return out


def variant_label(method: str, overrides: dict[str, Any], tuned_from: str | None = None) -> str:
    """``vae-elbo[arch=conv]``, ``ae-kde[tuned=STUDY]``: how non-default settings are named in tables."""
    named = {**overrides, **({"tuned": tuned_from} if tuned_from else {})}
    if not named:
        return method
    return f"{method}[{','.join(f'{k}={v}' for k, v in sorted(named.items()))}]"
