"""``python -m bench run | tune | list | leaderboard | published | ui``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.config import RunConfig, TuneConfig, split_list
from bench.errors import BenchError
from bench.options import Flags, add_cell_settings, add_grid, add_protocol_settings, add_scale, add_tracking
from bench.registry import load_user_plugin


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bench", description="Benchmark image anomaly detectors; results go to MLflow."
    )
    top.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="import a module or file that registers methods (repeatable)",
    )
    sub = top.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _tune_parser(sub)
    listing = sub.add_parser(
        "list", help="list methods, datasets and protocols; --method: its hyperparameters"
    )
    listing.add_argument("--data-dir", help="folder with dataset files (also $BENCH_DATA)")
    listing.add_argument("--method", help="show this method's hyperparameters: type, range, default, search")
    listing.add_argument("--protocol", help="show this protocol's split sizes on every dataset at hand")
    board = sub.add_parser("leaderboard", help="rank methods from the MLflow runs; write leaderboard.md/.csv")
    board.add_argument(
        "--no-roc", action="store_true", help="skip the per-class ROC overlays (they read scores)"
    )
    add_tracking(board)
    figures = sub.add_parser("published", help="published figures beside bench's, from every experiment")
    add_tracking(figures)
    figures.add_argument("--readme", metavar="FILE", help="also write the table into FILE's published block")
    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 against the results store")
    add_tracking(ui)
    ui.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    return top


def _plugin_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        dest="command_plugins",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="import a module or file that registers methods (repeatable; also before the command)",
    )


def _run_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the grid methods x datasets x protocols x classes x seeds")
    _plugin_flag(run)
    flags = Flags(run, RunConfig)
    flags.add("--methods", dest="methods", type=split_list, help="'all' or a comma list (see `bench list`)")
    add_grid(flags, one=False)
    add_protocol_settings(flags)
    add_cell_settings(flags, "override a method's hyperparameter, e.g. vae-elbo.arch=conv (repeatable; JSON)")
    flags.add(
        "--threshold",
        dest="threshold",
        choices=("own", "tuned"),
        help="own: each method's rule; tuned: also a threshold chosen on validation",
    )
    flags.add(
        "--params-from",
        dest="params_from",
        action="append",
        metavar="STUDY|FILE.json",
        shown="none",
        help="use a tune study's best hyperparameters for its method (repeatable)",
    )
    flags.add("--rerun", dest="rerun", action="store_true", shown="off", help="run finished cells again")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print every cell's split sizes and what would run; write nothing",
    )
    add_scale(
        flags,
        "local worker processes running cells (Ray schedules by --cpus/gpus-per-cell)",
        "one per core on CPU (at most 4, for sweeps of 8+ cells each), 1 on a GPU",
    )
    add_tracking(run)


def _tune_parser(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser("tune", help="search a method's hyperparameters for the best validation AUROC")
    tune.add_argument("--method", required=True, help="the method to tune (see `bench list`)")
    _plugin_flag(tune)
    flags = Flags(tune, TuneConfig)
    add_grid(flags, one=True)
    flags.add("--trials", dest="trials", type=int, help="finished trials the study should hold")
    flags.add("--study", dest="study", shown="METHOD.DATASET.PROTOCOL.cCLASSES.sSEED", help="study name")
    flags.add(
        "--storage",
        dest="storage",
        shown="sqlite:///RESULTS/optuna.db",
        help="Optuna storage URL or .log journal",
    )
    add_protocol_settings(flags)
    add_cell_settings(flags, "fix a hyperparameter for every trial, e.g. vae-elbo.epochs=10 (repeatable)")
    add_scale(flags, "workers running trials of the one study (processes or Ray tasks)", "1")
    add_tracking(tune)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import run_sweep

    config = RunConfig.from_args(args)
    if args.dry_run:
        from bench.plan import plan
        from bench.plan_view import show_plan

        show_plan(plan(config))
        return 0
    return run_sweep(config).exit_code


def cmd_tune(args: argparse.Namespace) -> int:
    from bench.tune import run_tune

    run_tune(TuneConfig.from_args(args))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bench.plan_view import protocol_sizes
    from bench.protocols import PROTOCOLS, protocol_info
    from bench.registry import DATASETS, METHODS, load_plugins, loaded_plugins

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
        methods.add_row(info.name, ", ".join(sorted(info.needs)) or "-", info.family, info.paper, here)
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

    from bench.params import type_words
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


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report import build_report
    from bench.tracking import Tracker, default_uri

    results = Path(args.results)
    if not args.tracking_uri and not (results / "mlflow.db").is_file():
        raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
    tracker = Tracker(args.tracking_uri or default_uri(results), args.experiment, results / "artifacts")
    _, paths = build_report(tracker, results, roc_curves=not args.no_roc)
    print((results / "leaderboard.md").read_text())
    print("AUROC per class (mean ± std over seeds):\n")
    print((results / "leaderboard_by_class.md").read_text())
    print(
        f"wrote {len(paths)} files: {', '.join(p.name for p in paths[:5])}, figures in {results / 'figures'}"
    )
    return 0


def cmd_published(args: argparse.Namespace) -> int:
    from bench.published import replace_readme_block
    from bench.report import published_report
    from bench.tracking import Tracker, default_uri

    results = Path(args.results)
    if not args.tracking_uri and not (results / "mlflow.db").is_file():
        raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
    table = published_report(Tracker(args.tracking_uri or default_uri(results), args.experiment))
    print(table)
    if args.readme:
        path = Path(args.readme)
        try:
            path.write_text(replace_readme_block(path.read_text(), table))
        except (OSError, ValueError) as exc:
            raise BenchError(f"--readme {path}: {exc}") from None
        print(f"wrote the table into {path}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from bench.tracking import default_uri

    results = Path(args.results)
    uri = args.tracking_uri or default_uri(results)
    mlflow = shutil.which("mlflow")
    cmd = [mlflow] if mlflow else [sys.executable, "-m", "mlflow"]
    cmd += ["ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)]
    print(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri}); in the UI choose 'Model training'")
    os.environ.setdefault("MLFLOW_DEFAULT_ARTIFACT_ROOT", (results / "artifacts").resolve().as_uri())
    return subprocess.call(cmd)


COMMANDS = {
    "run": cmd_run,
    "tune": cmd_tune,
    "list": cmd_list,
    "leaderboard": cmd_leaderboard,
    "published": cmd_published,
    "ui": cmd_ui,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)  # list flags parse in bench.config and may raise BenchError
        args.plugins = [*args.plugins, *getattr(args, "command_plugins", [])]  # before or after the command
        for plugin in args.plugins:
            load_user_plugin(plugin)
        return COMMANDS[args.command](args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
