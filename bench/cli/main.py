"""``python -m bench run | tune | list | check | new-method | leaderboard | published | ui``, and the
bundle commands ``export | import | reproduce`` (``bench.cli.bundles``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import variables
from bench.cli import bundles
from bench.cli.flags import (
    Flags,
    add_cell_settings,
    add_grid,
    add_protocol_settings,
    add_scale,
    add_tracking,
    open_store,
)
from bench.config import RunConfig, TuneConfig, given, split_list
from bench.errors import BenchError
from bench.plugins import load_user_plugin


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bench",
        description="Benchmark image anomaly detectors; results go to MLflow.",
        epilog=variables.help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    _plugin_flag(listing)
    check = sub.add_parser("check", help="run the method contract checks on methods or plugin files")
    check.add_argument("targets", nargs="+", metavar="METHOD|FILE.py|all", help="what to check")
    new = sub.add_parser("new-method", help="write a ready method plugin file to start from")
    new.add_argument("name", help="the method's name, e.g. my-method (lowercase, digits, hyphens)")
    new.add_argument("--torch", action="store_true", help="a torch DeepMethod template (default: numpy)")
    new.add_argument("--out", metavar="FILE.py", help="where to write it (default: ./NAME.py, with _ for -)")
    board = sub.add_parser("leaderboard", help="rank methods from the MLflow runs; write leaderboard.md/.csv")
    board.add_argument(
        "--no-roc", action="store_true", help="skip the per-class ROC overlays (they read scores)"
    )
    add_tracking(board)
    figures = sub.add_parser("published", help="published figures beside bench's, from every experiment")
    add_tracking(figures)
    figures.add_argument(
        "--into", metavar="FILE", help="also write the table into FILE's published block (docs/results.md)"
    )
    bundles.add_parsers(sub)
    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 against the results store")
    add_tracking(ui, experiment="the one whose cell run is newest")
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
    flags.add(
        "--no-figures",
        dest="figures",
        action="store_false",
        shown="figures drawn",
        help="log no ROC or histogram per cell run (about a tenth of a second a cell; scores.csv is "
        "logged either way, and `bench leaderboard` draws its figures from it)",
    )
    flags.add(
        "--in-process",
        dest="in_process",
        action="store_true",
        shown="off",
        help="debugging: run cells in this process, one at a time, unisolated (a crash ends the sweep)",
    )
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
    from bench import engine

    result = engine.run(dry_run=args.dry_run, **given(RunConfig, args))
    return 0 if result.report is None else result.report.exit_code


def cmd_list(args: argparse.Namespace) -> int:
    from bench.cli.listing import list_everything

    return list_everything(args)


def cmd_check(args: argparse.Namespace) -> int:
    from bench.cli.check import check_methods

    return check_methods(args.targets)


def cmd_new_method(args: argparse.Namespace) -> int:
    from bench.cli.new_method import new_method

    print(new_method(args.name, torch=args.torch, out=args.out))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from bench import engine

    engine.tune(**given(TuneConfig, args))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench import engine

    results = Path(args.results)
    board = engine.leaderboard(results, args.experiment, args.tracking_uri, roc_curves=not args.no_roc)
    print((results / "leaderboard.md").read_text())
    print("AUROC per class (mean ± std over seeds):\n")
    print((results / "leaderboard_by_class.md").read_text())
    names = ["leaderboard.md", "leaderboard.csv"]
    names += [f"leaderboard_by_class{suffix}" for suffix in (".md", ".csv", "_std.csv")]
    figures = results / "figures"
    print(f"wrote {len(names) + len(board.figures)} files: {', '.join(names)}, figures in {figures}")
    return 0


def cmd_published(args: argparse.Namespace) -> int:
    from bench.report.board import published_report
    from bench.report.paper_figures import replace_block

    table = published_report(open_store(args))
    print(table)
    if args.into:
        path = Path(args.into)
        try:
            path.write_text(replace_block(path.read_text(), table))
        except (OSError, ValueError) as exc:
            raise BenchError(f"--into {path}: {exc}") from None
        print(f"wrote the table into {path}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from bench.cli.ui import check_port, leaderboard_link, serve

    check_port(args.port)
    results = Path(args.results)
    uri, url = leaderboard_link(results, args.tracking_uri, args.experiment, f"http://127.0.0.1:{args.port}")
    return serve(uri, url, args.port, results / "artifacts")


COMMANDS = {
    "run": cmd_run,
    "tune": cmd_tune,
    "list": cmd_list,
    "check": cmd_check,
    "new-method": cmd_new_method,
    "leaderboard": cmd_leaderboard,
    "published": cmd_published,
    "ui": cmd_ui,
    **bundles.COMMANDS,
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
