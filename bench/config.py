"""The one run configuration: CLI flags fill it, it is saved as JSON and logged to MLflow."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError


@dataclass(frozen=True)
class RunConfig:
    methods: tuple[str, ...] = ("all",)
    datasets: tuple[str, ...] = ("digits",)
    protocols: tuple[str, ...] = ("one-class",)
    classes: tuple[int, ...] | None = None  # None = every class of each dataset
    seeds: tuple[int, ...] = (0,)
    contamination: float = 0.0
    anomaly_ratio: float = 0.078
    known_classes: tuple[int, ...] | None = None
    labels: int = 2000
    results: str = "results"
    tracking_uri: str | None = None
    experiment: str = "bench"
    device: str = "auto"
    data_dir: str | None = None
    rerun: bool = False
    plugins: tuple[str, ...] = field(default_factory=tuple)
    overrides: tuple[str, ...] = field(default_factory=tuple)  # "method.param=value"
    threshold: str = "own"  # "tuned": also choose a threshold on validation (Optuna where needed)
    params_from: tuple[str, ...] = field(default_factory=tuple)  # tune studies or their JSON files
    precision: str = "auto"  # "fp32", "bf16", or auto: bf16 on CUDA where a method allows it
    jobs: int = 1  # cells at once on this machine (local executor); 0 = auto
    executor: str = "local"  # or "ray"
    ray_address: str | None = None  # None: start a local Ray instance
    cpus_per_cell: float = 1.0  # Ray resources one cell asks for
    gpus_per_cell: float | None = None  # None: 1 where the Ray cluster has GPUs, else 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


def split_list(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items:
        raise BenchError(f"empty list: {text!r}")
    return items


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
        out.setdefault(method, {})[param] = tuple(value) if isinstance(value, list) else value
    return out


def variant_label(method: str, overrides: dict[str, Any], tuned_from: str | None = None) -> str:
    """``vae-elbo[arch=conv]``, ``ae-kde[tuned=STUDY]``: how non-default settings are named in tables."""
    named = {**overrides, **({"tuned": tuned_from} if tuned_from else {})}
    if not named:
        return method
    return f"{method}[{','.join(f'{k}={v}' for k, v in sorted(named.items()))}]"
