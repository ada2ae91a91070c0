"""``bench export``, ``bench import`` and ``bench reproduce``: an experiment's cells as a bundle, back
into any store, and run again here to compare."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import exchange
from bench.cli.flags import Flags, add_scale, add_tracking
from bench.config import RunConfig, given, parse_classes, split_list


def add_parsers(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write an experiment's cells as a bundle (Parquet + manifest)")
    add_tracking(export)
    export.add_argument(
        "--to", metavar="DIR", help="the bundle's folder (default: RESULTS/bundles/EXPERIMENT)"
    )
    export.add_argument(
        "--scores", action="store_true", help="also every test image's score and labels, for curves later"
    )
    imports = sub.add_parser("import", help="verify a bundle and add its cells to a store, once each")
    imports.add_argument("bundle", metavar="DIR", help="the bundle's folder (it holds manifest.json)")
    add_tracking(imports, experiment="the bundle's")
    again = sub.add_parser("reproduce", help="rerun a bundle's cells here and compare them with its metrics")
    again.add_argument("bundle", metavar="DIR", help="the bundle's folder (it holds manifest.json)")
    again.add_argument(
        "--methods", dest="select_methods", type=split_list, help="only these (names or labels)"
    )
    again.add_argument("--classes", dest="select_classes", type=parse_classes, help="only these classes")
    again.add_argument("--seeds", dest="select_seeds", type=parse_classes, help="only these seeds (a list)")
    again.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="largest metric difference that passes (default: 0.005)",
    )
    flags = Flags(again, RunConfig)
    flags.add("--data-dir", dest="data_dir", help="folder with dataset files (also $BENCH_DATA)")
    flags.add("--device", dest="device", help="auto (CUDA when available), cpu or cuda[:N]")
    add_scale(flags, "local worker processes running cells", "one per core on CPU (at most 4), 1 on a GPU")
    add_tracking(again, experiment="reproduce:BUNDLE, a scratch experiment")


def export(args: argparse.Namespace) -> int:
    from bench.tracking.bundle import MANIFEST

    folder = Path(args.to) if args.to else Path(args.results) / "bundles" / args.experiment
    held = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else None
    bundle = exchange.export_bundle(folder, args.results, args.experiment, args.tracking_uri, args.scores)
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
    done = exchange.import_bundle(args.bundle, args.results, args.experiment, args.tracking_uri)
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


def reproduce(args: argparse.Namespace) -> int:
    options = {k: v for k, v in given(RunConfig, args).items() if v is not None}
    done = exchange.reproduce(
        args.bundle,
        methods=args.select_methods,
        classes=args.select_classes,
        seeds=args.select_seeds,
        tolerance=args.tolerance,
        **options,
    )
    results = Path(options.get("results", "results"))
    path = results / f"reproduce-{done.bundle.split('@')[0]}.csv"
    done.cells.to_csv(path, index=False)
    print(f"\n{done.bundle}, rerun here:\n\n{done.text()}\n\nper cell: {path}")
    return 0 if done.ok else 1


COMMANDS = {"export": export, "import": import_, "reproduce": reproduce}
