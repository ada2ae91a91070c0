"""A plan's view of its splits: each cell's sizes, which cells are too small to measure, what was scaled.

Sizes come from a protocol's indices alone (no image is copied), so a sweep
states every cell's sizes, and turns away a test split too small to give an
AUROC that means anything, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.dataset import Dataset, Sizes
from bench.data.protocol import ProtocolOptions, protocol_info, protocol_label, split_indices
from bench.errors import BenchError

WORDS = {
    "train_normal": "train normal",
    "train_anomalous": "train anomalous",
    "labeled": "labeled",
    "test_normal": "test normal",
    "test_anomalous": "test anomalous",
}


def split_sizes(dataset: Dataset, protocol: str, unit: int, seed: int, opts: ProtocolOptions) -> Sizes:
    """The sizes of one cell's split; BenchError where the protocol cannot build it on this dataset."""
    parts = split_indices(dataset, protocol, unit, seed, opts)
    return Sizes.of(*(anomaly for _, anomaly in parts), labeled_set=protocol_info(protocol).classify)


def too_small(sizes: Sizes, minimum: int) -> str | None:
    """Why a test split is too small to measure (fewer than ``minimum`` anomalies or normals), or None."""
    short = [
        f"{count} {what}"
        for count, what in ((sizes.test_anomalous, "anomalies"), (sizes.test_normal, "normal images"))
        if count < minimum
    ]
    return f"its test split holds {' and '.join(short)} (fewer than --min-test {minimum})" if short else None


@dataclass(frozen=True)
class SplitCheck:
    """One cell's split, before any work: its sizes, or why it cannot be measured."""

    dataset: str
    protocol: str
    unit: int
    seed: int
    sizes: Sizes | None
    reason: str | None = None  # set: the cell is n/a


def check_split(dataset: Dataset, protocol: str, unit: int, seed: int, opts: ProtocolOptions) -> SplitCheck:
    try:
        sizes = split_sizes(dataset, protocol, unit, seed, opts)
    except BenchError as exc:  # the dataset is too small for the protocol's draw
        return SplitCheck(dataset.name, protocol, unit, seed, None, str(exc))
    return SplitCheck(dataset.name, protocol, unit, seed, sizes, too_small(sizes, opts.min_test))


def scaled_note(dataset: str, protocol: str, sizes: Sizes, opts: ProtocolOptions) -> str | None:
    """One warning line where a split's sizes differ from the seed reports' sizes, else None."""
    seed_sizes = protocol_info(protocol).seed_sizes
    if seed_sizes is None:
        return None
    changed = [
        f"{WORDS[name]} {getattr(sizes, name):,} ({count:,})"
        for name, count in seed_sizes(opts).items()
        if getattr(sizes, name) != count
    ]
    if not changed:
        return None
    return (
        f"warning: {protocol_label(protocol, opts)} on {dataset}: sizes scaled to the dataset "
        f"(the seeds' in brackets): {', '.join(changed)}; the rule is in docs/protocols.md"
    )
