"""``python -m bench list``: the methods, datasets and protocols, a method's hyperparameters, a
protocol's sizes."""

from __future__ import annotations

import argparse
from typing import Any


def list_everything(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bench.data.protocol import protocol_info
    from bench.plugins import load_plugins, loaded_plugins
    from bench.registry import DATASETS, METHODS, PROTOCOLS
    from bench.sweep.preview import protocol_sizes

    load_plugins()
    console = Console()
    console.width = max(console.width, 110)  # piped, whole names still fit their columns
    if args.method:
        console.print(hyperparameter_table(args.method))
        return 0
    if args.protocol:
        protocol_info(args.protocol)  # an unknown name ends here, in one line
        protocol_sizes(args.protocol, datasets_here(args.data_dir, console), console)
        return 0
    methods = Table(title="methods")
    for col in ("name", "needs from the protocol", "family", "source", "here"):
        methods.add_column(col)
    for info, cls in METHODS:
        here = cls.unavailable() or "yes"
        source = ", ".join(filter(None, (info.paper, info.distribution and f"package {info.distribution}")))
        methods.add_row(info.name, ", ".join(sorted(info.needs)) or "-", info.family, source, here)
    for hint in METHODS.families().values():
        methods.add_row(hint, "-", "", "")
    datasets = Table(title="datasets")
    for col in ("name", "what", "files here"):
        datasets.add_column(col)
    for info, source in DATASETS:
        datasets.add_row(info.name, info.summary, source.where(args.data_dir))
    for hint in DATASETS.families().values():
        datasets.add_row(hint, "your own images", "-")
    protocols = Table(title="protocols")
    for col in ("name", "gives methods", "what"):
        protocols.add_column(col)
    for info, _ in PROTOCOLS:
        protocols.add_row(info.name, ", ".join(sorted(info.provides)) or "unlabeled images", info.summary)
    console.print(methods, datasets, protocols)
    console.print("each protocol's split sizes on the datasets here: bench list --protocol NAME")
    for plugin in loaded_plugins():
        console.print(f"plugin: {plugin}")
    return 0


def datasets_here(data_dir: str | None, console: Any) -> dict[str, Any]:
    """Every registered dataset whose files are here, loaded; a line for each that is not."""
    from bench.registry import DATASETS

    here = {}
    for info, source in DATASETS:
        where = source.where(data_dir)
        if where.startswith("available"):  # never a download from a listing
            here[info.name] = source.load(data_dir)
        else:
            console.print(f"{info.name}: {where}", markup=False, soft_wrap=True)
    return here


def hyperparameter_table(name: str) -> Any:
    """What ``--set NAME.PARAM=VALUE`` accepts, and what ``bench tune`` searches."""
    from rich.table import Table

    from bench.contract.params import type_words
    from bench.registry import METHODS

    _, cls = METHODS.get(name)
    table = Table(title=f"{name}: hyperparameters (--set {name}.PARAM=VALUE)")
    for col in ("name", "type", "range", "default", "bench tune searches"):
        table.add_column(col)
    for param, hyper in cls.hyperparameters().items():
        searched = cls.search_space.get(param)
        table.add_row(
            param,
            type_words(hyper.kind),
            hyper.range.words() if hyper.range else "-",
            repr(hyper.default),
            repr(searched) if searched else "-",
        )
    return table
