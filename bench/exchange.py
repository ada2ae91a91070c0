"""Bundles from Python: ``bench.export_bundle``, ``bench.import_bundle`` and ``bench.reproduce``,
which ``bench export``, ``bench import`` and ``bench reproduce`` call.

A bundle (``bench.tracking.bundle``) is an experiment's cell runs as verified files; reproducing
one reruns its cells here, from what each records, and compares them metric by metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import RunConfig
from bench.errors import BenchError
from bench.options import config_of

if TYPE_CHECKING:
    from rich.console import Console

    from bench.report.reproduction import Reproduction
    from bench.tracking.bundle import Bundle
    from bench.tracking.transfer import Imported


def import_bundle(
    bundle: str | Path,
    results: str | Path = "results",
    experiment: str | None = None,
    tracking_uri: str | None = None,
) -> Imported:
    """Verify a bundle (``bench export``'s folder) and add its cells to a store, each once: into
    ``experiment``, by default the one it was exported from. What was added, present, or kept apart."""
    from bench.tracking.bundle import read_bundle
    from bench.tracking.tracker import Tracker, default_uri
    from bench.tracking.transfer import import_bundle as add

    read = read_bundle(Path(bundle))  # verified before any store is opened or made
    results = Path(results)
    experiment = experiment or read.manifest.get("experiment") or "bench"
    if not tracking_uri:
        results.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(tracking_uri or default_uri(results), experiment, results / "artifacts")
    return dataclasses.replace(add(tracker, read), bundle=read.id, experiment=experiment, uri=tracker.uri)


def export_bundle(
    to: str | Path | None = None,
    results: str | Path = "results",
    experiment: str = "bench",
    tracking_uri: str | None = None,
    scores: bool = False,
) -> Bundle:
    """An experiment's cells as a bundle (Parquet and a manifest) in ``to`` (by default
    RESULTS/bundles/EXPERIMENT); with ``scores``, every test image's score and labels too."""
    from bench.errors import BenchError
    from bench.tracking.tracker import Tracker
    from bench.tracking.transfer import export_experiment

    tracker = Tracker.existing(results, tracking_uri, experiment)
    if not tracker.runs.cell_records(None):
        raise BenchError(f"experiment {experiment!r} of {tracker.uri} has no cell runs to export")
    folder = Path(to) if to else Path(results) / "bundles" / experiment
    return export_experiment(tracker, folder, scores=scores)


def reproduce(
    bundle: str | Path,
    *,
    methods: Sequence[str] | None = None,
    classes: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    tolerance: float = 0.005,
    console: Console | None = None,
    **options: Any,
) -> Reproduction:
    """Rerun a bundle's cells here (those of ``methods``, ``classes`` and ``seeds``; None: all), with
    the hyperparameters, data and protocol rules each records, into the scratch experiment
    ``reproduce:NAME`` (or ``experiment``) of ``results``, and compare each with the bundle's:
    ``.cells`` (per cell, both AUROCs, their difference, a verdict), ``.summary()``,
    ``.provenance`` (what differs: CPU, torch, commit ...), ``.ok`` (every cell within
    ``tolerance`` of the bundle's metrics). ``options`` are ``bench.run``'s where and how (results,
    jobs, device, executor ...); cells already run there are not run again."""
    from bench.sweep.reproduce import reproduce as rerun

    if tolerance < 0:
        raise BenchError(f"--tolerance must be >= 0, not {tolerance}")
    cfg = config_of(RunConfig, options)
    if "experiment" not in options:
        cfg = dataclasses.replace(cfg, experiment="")  # the bundle's scratch experiment
    return rerun(bundle, methods=methods, classes=classes, seeds=seeds, tolerance=tolerance, config=cfg,
                 console=console)  # fmt: skip
