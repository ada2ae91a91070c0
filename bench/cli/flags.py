"""The command-line flags of ``run`` and ``tune``, each filling the config field of its ``dest``.

Flags carry no defaults of their own (``argparse.SUPPRESS``): a flag a user
did not give leaves its field at the dataclass default, which the help text
shows, so each default lives in ``bench.config`` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench import variables
from bench.config import SweepConfig, default, parse_classes, parse_seeds, split_datasets, split_list
from bench.data.protocol import ProtocolOptions

if TYPE_CHECKING:
    from bench.tracking.tracker import Tracker


def _jobs(text: str) -> int:
    if text == "auto":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes auto or a count >= 1, not {text!r}")
    return int(text)


def _one_seed(text: str) -> tuple[int, ...]:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"takes a seed >= 0, not {text!r}")
    return (int(text),)


def _show(value: Any) -> str:
    """A dataclass default as the help text shows it (``jobs`` 0 is auto)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else "auto" if value == 0 and not isinstance(value, bool) else str(value)


class Flags:
    """Adds flags to one sub-command's parser for fields of ``config``."""

    def __init__(self, parser: argparse.ArgumentParser, config: type[SweepConfig]) -> None:
        self.parser, self.config = parser, config

    def add(
        self, *flags: str, dest: str, help: str, type: Callable[[str], Any] | None = None, **kw: Any
    ) -> None:
        shown = kw.pop("shown", None) or _show(default(self.config, dest))
        extra = {} if kw.get("action") in ("store_true", "store_false") else {"type": type or str}
        self.parser.add_argument(
            *flags, dest=dest, default=argparse.SUPPRESS, help=f"{help} (default: {shown})", **extra, **kw
        )


def add_grid(f: Flags, one: bool) -> None:
    """Datasets, protocols, classes, seeds (``one``: tune takes a single dataset, protocol and seed)."""
    every = {"dataset": "every one whose files are here", "protocol": "every one"}
    for name in ("dataset", "protocol"):
        flags = (f"--{name}", f"--{name}s") if one else (f"--{name}s", f"--{name}")
        parse = split_datasets if name == "dataset" else split_list
        text = name if one else f"'all' ({every[name]}) or a comma list (see `bench list`)"
        f.add(*flags, dest=f"{name}s", type=parse, help=text)
    f.add(
        "--classes", dest="classes", type=parse_classes, shown="all", help="'all' or a comma list of classes"
    )
    if not one:
        f.add("--seeds", dest="seeds", type=parse_seeds, shown="1", help="a count N (seeds 0..N-1) or a list")
    f.add(
        "--seed", dest="seeds", type=_one_seed, metavar="N", help="one seed, for the splits and the sampler"
    )


def add_protocol_settings(f: Flags) -> None:
    """A flag for each of ``ProtocolOptions``'s fields, as its metadata declares it."""
    for option in dataclasses.fields(ProtocolOptions):
        meta = option.metadata
        parse = parse_classes if option.name == "known_classes" else _scalar(option.type)
        metavar = {"metavar": "N"} if option.name == "min_test" else {}
        f.add(meta["flag"], dest=option.name, type=parse, shown=meta["shown"], help=meta["help"], **metavar)


def _scalar(annotation: str) -> Callable[[str], Any]:
    return {"float": float, "int": int}[annotation]


def add_cell_settings(f: Flags, set_help: str) -> None:
    f.add(
        "--set", dest="overrides", action="append", metavar="METHOD.PARAM=VALUE", help=set_help, shown="none"
    )
    f.add("--data-dir", dest="data_dir", help="folder with dataset files (also $BENCH_DATA)")
    f.add("--device", dest="device", help="auto (CUDA when available), cpu or cuda[:N]")
    f.add(
        "--precision",
        dest="precision",
        choices=("auto", "fp32", "bf16"),
        help="torch training precision: auto is bf16 on CUDA where a method allows it, else fp32",
    )
    f.add(
        "--deterministic",
        dest="deterministic",
        action="store_true",
        shown="off; cuDNN's deterministic flags are set on CUDA anyway",
        help="torch.use_deterministic_algorithms: a cell using an op with no deterministic kernel fails",
    )
    f.add(
        "--fast-kernels",
        dest="fast_kernels",
        action="store_true",
        shown="off",
        help="bench's CPU kernel for 5x5 depthwise weight gradients: faster, other float rounding (keyed)",
    )


def add_scale(f: Flags, unit: str, auto: str) -> None:
    f.add("--jobs", dest="jobs", type=_jobs, help=f"{unit} at once, or auto: {auto}")
    f.add(
        "--executor",
        dest="executor",
        choices=("local", "ray"),
        help="local: this machine; ray: as Ray tasks, on a local instance or a cluster",
    )
    f.add(
        "--ray-address",
        dest="ray_address",
        shown="start a local instance",
        help="Ray cluster to join: auto (the cluster this machine was started in) or HEAD_IP:6379",
    )
    f.add("--cpus-per-cell", dest="cpus_per_cell", type=float, help="Ray: CPUs per task")
    f.add(
        "--gpus-per-cell",
        dest="gpus_per_cell",
        type=float,
        shown="1 where the cluster has GPUs",
        help="Ray: GPUs per task, fractions share one, e.g. 0.25",
    )


def add_tracking(parser: argparse.ArgumentParser, experiment: str | None = None) -> None:
    """Where results go: for run and tune these fill the config; leaderboard and ui read them as is.
    ``experiment``: what the default experiment is called in the help where it is not bench's."""
    results = variables.get("BENCH_RESULTS") or default(SweepConfig, "results")
    parser.add_argument(
        "--results",
        default=results,
        help=f"folder for the MLflow store, artifacts and tables (default: {results}; also $BENCH_RESULTS)",
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///RESULTS/mlflow.db)")
    ours = default(SweepConfig, "experiment")
    parser.add_argument(
        "--experiment",
        default=None if experiment else ours,
        help=f"MLflow experiment: one per benchmark (default: {experiment or ours})",
    )


def open_store(args: argparse.Namespace) -> Tracker:
    """The experiment of an existing store that ``add_tracking``'s flags name."""
    from bench.tracking.tracker import Tracker

    return Tracker.existing(args.results, args.tracking_uri, args.experiment)
