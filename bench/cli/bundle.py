"""``bench export`` and ``bench import``: an experiment's cells as a bundle, and back into any store."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.options import open_store
from bench.errors import BenchError
from bench.tracking.bundle import MANIFEST, read_bundle


def export(args: argparse.Namespace) -> int:
    from bench.tracking.transfer import export_experiment

    results, tracker = Path(args.results), open_store(args)
    if not tracker.runs_of_kind("cell"):
        raise BenchError(f"experiment {args.experiment!r} of {tracker.uri} has no cell runs to export")
    folder = Path(args.to) if args.to else results / "bundles" / args.experiment
    held = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else None
    bundle = export_experiment(tracker, folder, scores=args.scores)
    size = sum(entry["bytes"] for entry in bundle.manifest["files"].values())
    m = bundle.manifest
    same = held == (folder / MANIFEST).read_bytes()
    print(
        f"exported {m['cells']} finished and {m['failed']} failed cells of {args.experiment!r}"
        f"{' with their test scores' if args.scores else ''} to {folder} ({size / 1024:.0f} KiB)"
        f"{': the bundle there held exactly these, left as it was' if same else ''}"
    )
    return 0


def import_(args: argparse.Namespace) -> int:
    from bench.tracking.tracker import Tracker, default_uri
    from bench.tracking.transfer import import_bundle

    bundle = read_bundle(Path(args.bundle))  # verified before any store is opened or made
    results = Path(args.results)
    experiment = args.experiment or bundle.manifest.get("experiment") or "bench"
    if not args.tracking_uri:
        results.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(args.tracking_uri or default_uri(results), experiment, results / "artifacts")
    done = import_bundle(tracker, bundle)
    print(
        f"imported {bundle.id} into experiment {experiment!r} of {tracker.uri}: {done.added} cell runs "
        f"added, {done.present} already here"
    )
    if done.conflicts:
        print(
            f"kept apart, not in any leaderboard: {len(done.conflicts)} cells this store holds with "
            "another result (runs tagged bench.kind=conflict):"
        )
        print("\n".join(f"  {line}" for line in done.conflicts))
    return 0
