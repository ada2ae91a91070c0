"""Running one job where it lands: the split built (and kept for the next job), the method built
from its settings, the cell run; in whichever process it landed.

Every executor (``bench.sweep.executors``, ``bench.sweep.ray_tasks``) calls ``execute``, so a
cell gives the same outcome wherever it runs; every cell seeds itself, so results
do not depend on which worker ran it, only, within floating-point noise, on the
number of threads it had.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import schema
from bench.cell import Cell, CellResult, Outcome, TestLabels
from bench.contract.method import Env
from bench.data.dataset import Dataset, Split
from bench.data.protocol import make_split, protocol_info
from bench.nets.device import apply_determinism, resolve_device, resolve_precision
from bench.nets.features import FeatureCache, frozen_split
from bench.registry import METHODS
from bench.report.cell_figures import cell_figures
from bench.runtime.processes import DATASETS
from bench.sweep.cost import Stopwatch
from bench.sweep.fit_score import run_cell
from bench.sweep.provenance import cell_environment


@dataclass(frozen=True)
class Job:
    """One cell to run, with the settings that rebuild its method in any process."""

    id: int
    cell: Cell  # its ``settings`` rebuild the method
    device: str  # "auto" is resolved where the job runs (a Ray worker may have a GPU the driver lacks)
    features: str | None = None  # the frozen-feature cache folder, for methods that declare an extractor
    figures: bool = True  # draw the cell's ROC and score histogram where it runs (``--no-figures``: not)


def with_figures(outcome: Outcome, job: Job) -> Outcome:
    """Draw the cell's figures where it ran (a millisecond of SVG text), if its job asks."""
    result, cell = outcome.result, job.cell
    if job.figures and result.ok and outcome.test is not None:
        outcome.figures = cell_figures(
            outcome.test.anomaly, result.scores, cell.title, result.metrics["auroc"], result.threshold
        )
    return outcome


_SPLITS: dict[tuple, Split] = {}


def _split(job: Job, datasets: Mapping[str, Dataset]) -> Split:
    """The job's split; the last two are kept, since cells of one split arrive together."""
    c = job.cell
    key = (c.dataset, c.protocol, c.unit, c.seed, c.options)
    if key not in _SPLITS:
        while len(_SPLITS) >= 2:
            _SPLITS.pop(next(iter(_SPLITS)))
        _SPLITS[key] = make_split(datasets[c.dataset], c.protocol, c.unit, c.seed, c.options)
    return _SPLITS[key]


def clear_splits() -> None:
    _SPLITS.clear()


def execute(
    job: Job,
    datasets: Mapping[str, Dataset] | None = None,
    on_epoch: Callable[[int, int, float], None] | None = None,
) -> Outcome:
    """Build the job's split and method, run the cell; every failure of the cell is in the result."""
    datasets = DATASETS if datasets is None else datasets
    split = _split(job, datasets)
    info, cls = METHODS.get(job.cell.method)
    device = resolve_device(job.device)
    precision = resolve_precision(job.cell.precision, device)
    environment = cell_environment(device, apply_determinism(device, job.cell.deterministic))
    env = Env(
        device=device,
        seed=job.cell.seed,
        on_epoch=on_epoch,
        precision=precision,
        fast_kernels=job.cell.fast_kernels,
    )
    classify = protocol_info(job.cell.protocol).classify
    method, dataset = cls(**job.cell.settings), datasets[job.cell.dataset]
    provenance = {schema.DATA_SOURCE: dataset.source, schema.DATA_CHECKSUMS: dataset.checksums}
    extractor = method.extractor()
    if extractor is not None:  # the images' cached features stand in for them
        cache = FeatureCache(features_folder(job))
        with Stopwatch() as took:
            split = frozen_split(split, dataset, extractor, cache, device)
        provenance[schema.FEATURES] = "computed" if cache.computed else "cached"
        provenance[schema.FEATURES_SECONDS] = f"{took.seconds:.1f}"  # shared by every cell: not in its fit
    result = run_cell(method, info.needs, split, env, job.cell.threshold, classify)
    test = split.test
    labels = TestLabels(test.index, test.source, test.anomaly, test.classes)
    sizes = split.sizes().params()
    return Outcome(job.id, result, device, sizes=sizes, data=provenance, test=labels, provenance=environment)


def features_folder(job: Job) -> Path:
    return Path(job.features) if job.features else Path(tempfile.gettempdir()) / "bench-features"


def extracts_first(job: Job, datasets: Mapping[str, Dataset]) -> bool:
    """Whether the job's cell must first compute frozen features that are not cached yet (the whole
    dataset's, shared by the cells after it: not in the cell's own seconds)."""
    method = METHODS.get(job.cell.method)[1](**job.cell.settings)
    extractor, dataset = method.extractor(), datasets[job.cell.dataset]
    if extractor is None:
        return False
    cache = FeatureCache(features_folder(job))
    return not all(cache.holds(extractor, dataset, part) for part in ("train", "test"))


def crashed(job: Job, how: str) -> Outcome:
    reason = f"WorkerCrashed: the process running this cell died ({how})"
    return Outcome(job.id, CellResult(ok=False, error=reason, detail=reason), job.device)


# Failures after which a CUDA context is unusable: every later cell in that process would fail too.
POISONED_CONTEXT = ("CUDA error", "device-side assert", "CUBLAS_STATUS", "cuDNN error", "AcceleratorError")


def poisons_process(outcome: Outcome) -> bool:
    """Whether the cell's failure leaves its process unfit for another cell (a CUDA error)."""
    return not outcome.result.ok and any(words in outcome.result.error for words in POISONED_CONTEXT)
