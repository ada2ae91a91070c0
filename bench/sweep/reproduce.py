"""``bench reproduce BUNDLE``: a bundle's cells rebuilt from what each records (method and its
hyperparameters as used, dataset, protocol and its options, class, seed) and run here, into a
scratch experiment, for ``bench.report.reproduction`` to compare metric by metric.

A rebuilt cell is the bundle's cell only if its resume key is the bundle's ``cell_key``: the key
hashes the method's parameters, the dataset's content digest, the protocol's options and version,
the class and the seed, so a cell whose data, protocol rules or method differ here is reported as
not rebuilt (with why), never compared as if it were the same.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from bench import schema
from bench.cell import Cell
from bench.config import RunConfig
from bench.contract.params import check_params
from bench.data.dataset import Dataset
from bench.data.protocol import PROTOCOLS, ProtocolOptions, protocol_info
from bench.errors import BenchError
from bench.nets.device import resolve_device
from bench.plugins import load_plugins
from bench.registry import DATASETS, METHODS
from bench.report.reproduction import Reproduction, compare
from bench.sweep.driver import execute_plan
from bench.sweep.plan import SweepPlan
from bench.sweep.resolve import MethodSpec, resolve_method
from bench.tracking.bundle import Bundle, read_bundle
from bench.tracking.tags import is_hyperparameter
from bench.tracking.tracker import Tracker, default_uri

TAG, PARAM = "tags.", "params."


@dataclass(frozen=True)
class Rebuilt:
    """A bundle's cell as rebuilt here: ``cell`` (None where it cannot be, and ``why``)."""

    key: str
    cell: Cell | None
    spec: MethodSpec | None = None
    why: str = ""


def scratch_experiment(bundle: Bundle) -> str:
    """Where a bundle's cells run again: an experiment of their own, beside the user's."""
    return f"reproduce:{bundle.manifest.get('name') or bundle.path.name}"


def selected(cells: pd.DataFrame, methods: Sequence[str] | None, classes: Sequence[int] | None,
             seeds: Sequence[int] | None) -> pd.DataFrame:  # fmt: skip
    """The bundle's cells of ``methods`` (names or labels), ``classes`` and ``seeds`` (None: all)."""
    keep = pd.Series(True, index=cells.index)
    if methods is not None:
        keep &= cells[TAG + schema.METHOD].isin(methods) | cells[TAG + schema.METHOD_LABEL].isin(methods)
    if classes is not None:
        keep &= cells[TAG + schema.CLASS].astype(int).isin(classes)
    if seeds is not None:
        keep &= cells[TAG + schema.SEED].astype(int).isin(seeds)
    return cells[keep]


def _value(text: Any) -> Any:
    """A logged param's text as the value it was (JSON where it parses, as ``--set`` reads it)."""
    words = {"None": None, "none": None, "True": True, "False": False}  # how str() wrote them
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        value = words.get(text, text)
    return tuple(value) if isinstance(value, list) else value


def _logged(row: pd.Series, prefix: str) -> dict[str, Any]:
    return {
        k.removeprefix(prefix): v
        for k, v in row.items()
        if k.startswith(prefix) and not (isinstance(v, float) and math.isnan(v))
    }


def rebuild(row: pd.Series, datasets: dict[str, Dataset]) -> Rebuilt:
    """The cell ``row`` records, rebuilt with this bench's method, data and protocol rules."""
    tags, params = _logged(row, TAG), _logged(row, PARAM)
    key, method, protocol = tags[schema.CELL_KEY], tags[schema.METHOD], tags[schema.PROTOCOL]
    dataset = datasets.get(tags[schema.DATASET])
    if method not in METHODS.names():
        return Rebuilt(key, None, why=f"no method {method} here")
    if dataset is None:
        return Rebuilt(key, None, why=f"dataset {tags[schema.DATASET]} is not here")
    if protocol not in PROTOCOLS.names():
        return Rebuilt(key, None, why=f"no protocol {protocol} here")
    version, current = int(tags.get(schema.PROTOCOL_VERSION, 1)), protocol_info(protocol).version
    if version != current:
        return Rebuilt(key, None, why=f"{protocol} v{version} in the bundle, v{current} here")
    if tags.get(schema.DATA_DIGEST, dataset.digest) != dataset.digest:
        return Rebuilt(key, None, why=f"the files of {dataset.name} here are not the bundle's (other digest)")
    declared = METHODS.get(method)[1].hyperparameters()
    settings = {k: _value(v) for k, v in params.items() if is_hyperparameter(k) and k in declared}
    try:
        checked = check_params(method, declared, settings)
        explicit = {k: v for k, v in checked.items() if v != declared[k].default}
        spec = resolve_method(method, checked, explicit, tags.get(schema.TUNED_FROM))
    except BenchError as exc:
        return Rebuilt(key, None, why=str(exc))
    fields = {f.name for f in dataclasses.fields(ProtocolOptions)}
    options = {k: _value(v) for k, v in params.items() if k.startswith(schema.PROTOCOL_PREFIX)}
    options = {k.removeprefix(schema.PROTOCOL_PREFIX): v for k, v in options.items()}
    cell = Cell(
        method, spec.params, dataset.name, protocol, int(tags[schema.CLASS]), int(tags[schema.SEED]),
        ProtocolOptions(**{k: v for k, v in options.items() if k in fields}), spec.explicit,
        threshold="tuned" if schema.TUNED_THRESHOLD_SOURCE in tags else "own", tuned_from=spec.tuned_from,
        deterministic=tags.get(schema.ENV_DETERMINISTIC) == "true", data=dataset.digest,
        fast_kernels=tags.get(schema.FAST_KERNELS) == "true",
        settings=spec.settings, pretrained=spec.info.pretrained, plugin=spec.info.distribution,
    )  # fmt: skip
    if cell.key != key:
        return Rebuilt(key, None, why="rebuilt here it is another cell (its settings do not hash to its key)")
    return Rebuilt(key, cell, spec)


def reproduce(
    bundle: str | Path,
    *,
    methods: Sequence[str] | None = None,
    classes: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    tolerance: float = 0.005,
    config: RunConfig | None = None,
    console: Console | None = None,
) -> Reproduction:
    """Run the bundle's selected cells here into its scratch experiment (cells already run there are
    not run again) and compare them with the bundle's; ``config`` says where and how (results,
    jobs, device, executor; its grid fields are not read)."""
    load_plugins()
    found = read_bundle(Path(bundle))
    chosen = selected(found.cells, methods, classes, seeds)
    if chosen.empty:
        raise BenchError(f"{found.path}: no cell of the bundle matches the selection")
    cfg = config or RunConfig(experiment="")
    cfg = dataclasses.replace(cfg, experiment=cfg.experiment or scratch_experiment(found))
    names = sorted(set(chosen[TAG + schema.DATASET]))
    datasets = {n: DATASETS.get(n)[1].load(cfg.data_dir) for n in names if n in DATASETS.names()}
    rebuilt = [rebuild(row, datasets) for _, row in chosen.iterrows()]
    cells = tuple(r.cell for r in rebuilt if r.cell is not None)
    specs = tuple({r.spec.label: r.spec for r in rebuilt if r.spec is not None}.values())
    if cells:
        cfg = dataclasses.replace(cfg, seeds=tuple(sorted({c.seed for c in cells})))  # as the headline says
        device = cfg.device if cfg.executor == "ray" else resolve_device(cfg.device)
        execute_plan(SweepPlan(cfg, device, specs, datasets, cells, ()), console)
    results = Path(cfg.results)
    here = Tracker(cfg.tracking_uri or default_uri(results), cfg.experiment, results / "artifacts")
    why = {r.key: r.why for r in rebuilt if r.cell is None}
    return compare(found, chosen, here.runs.cell_records(None), why, tolerance)
