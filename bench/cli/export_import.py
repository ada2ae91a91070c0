"""``bench export`` and ``bench import``: an experiment's cells as a bundle, and back into any store."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import engine
from bench.tracking.bundle import MANIFEST


def export(args: argparse.Namespace) -> int:
    folder = Path(args.to) if args.to else Path(args.results) / "bundles" / args.experiment
    held = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else None
    bundle = engine.export_bundle(folder, args.results, args.experiment, args.tracking_uri, args.scores)
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
    done = engine.import_bundle(args.bundle, args.results, args.experiment, args.tracking_uri)
    print(
        f"imported {done.bundle} into experiment {done.experiment!r} of {done.uri}: {done.added} cell runs "
        f"added, {done.present} already here"
    )
    if done.conflicts:
        print(
            f"kept apart, not in any leaderboard: {len(done.conflicts)} cells this store holds with "
            "another result (runs tagged bench.kind=conflict):"
        )
        print("\n".join(f"  {line}" for line in done.conflicts))
    return 0
