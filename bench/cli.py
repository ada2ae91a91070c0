"""``python -m bench run | tune | list | leaderboard | ui``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.config import RunConfig, parse_classes, parse_seeds, split_list
from bench.errors import BenchError
from bench.registry import load_user_plugin


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--results",
        default="results",
        help="folder for the MLflow store, artifacts and tables (default: results)",
    )
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///RESULTS/mlflow.db)")
    p.add_argument(
        "--experiment",
        default="bench",
        help="MLflow experiment: one per benchmark (default: bench)",
    )


def _add_cell_options(p: argparse.ArgumentParser, set_help: str) -> None:
    """What ``run`` and ``tune`` share about how a cell is built and where it runs."""
    p.add_argument(
        "--contamination",
        type=float,
        default=0.0,
        help="one-class: fraction of unlabeled anomalies mixed into training (default: 0)",
    )
    p.add_argument(
        "--anomaly-ratio",
        type=float,
        default=0.078,
        help="supervised: ratio of labeled anomalies in train/val/test (default: 0.078)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="training precision of torch methods: auto is bf16 on CUDA where a method allows it, "
        "fp32 on CPU (default: auto)",
    )
    p.add_argument("--data-dir", help="folder with dataset files (also $BENCH_DATA)")
    p.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE", help=set_help)


def _jobs(text: str) -> int:
    if text == "auto":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes auto or a count >= 1, not {text!r}")
    return int(text)


def _add_scale_options(p: argparse.ArgumentParser, unit: str, auto: str) -> None:
    """How many workers run ``unit``s at once, and where."""
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=0,
        help=f"{unit} at once, or auto: {auto} (default: auto)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: this machine; ray: as Ray tasks, on a local instance or a cluster (default: local)",
    )
    p.add_argument(
        "--ray-address",
        help="Ray cluster to join: auto (the cluster this machine was started in) or HEAD_IP:6379 "
        "(default: start a local instance)",
    )
    p.add_argument("--cpus-per-cell", type=float, default=1.0, help="Ray: CPUs per task (default: 1)")
    p.add_argument(
        "--gpus-per-cell",
        type=float,
        default=None,
        help="Ray: GPUs per task, fractions share one, e.g. 0.25 (default: 1 where the cluster has GPUs)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bench", description="Benchmark image anomaly detectors; results go to MLflow."
    )
    top.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE|FILE.py",
        help="import a module or file that registers methods (repeatable)",
    )
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the grid methods x datasets x protocols x classes x seeds")
    run.add_argument(
        "--methods", default="all", help="'all' or a comma list of method names (see `bench list`)"
    )
    run.add_argument("--datasets", default="digits", help="comma list of datasets (default: digits)")
    run.add_argument("--protocols", default="one-class", help="comma list of protocols (default: one-class)")
    run.add_argument("--classes", default="all", help="'all' or a comma list of class indices (default: all)")
    run.add_argument(
        "--seeds",
        default="1",
        help="a count N (seeds 0..N-1) or a comma list of seeds (default: 1)",
    )
    _add_cell_options(
        run, "override a method's hyperparameter, e.g. vae-elbo.arch=conv (repeatable; JSON values)"
    )
    run.add_argument(
        "--known",
        default=None,
        help="open-set: comma list of the known classes (default: the first half, 0-4 for 10 classes)",
    )
    run.add_argument(
        "--labels",
        type=int,
        default=2000,
        help="open-set: labeled images for the classifier, evenly over known classes (default: 2000)",
    )
    run.add_argument(
        "--threshold",
        choices=("own", "tuned"),
        default="own",
        help="own: each method's rule; tuned: also a threshold chosen on validation (default: own)",
    )
    run.add_argument(
        "--params-from",
        action="append",
        default=[],
        metavar="STUDY|FILE.json",
        help="use a tune study's best hyperparameters for its method (repeatable)",
    )
    run.add_argument("--rerun", action="store_true", help="run cells again even if they finished before")
    _add_scale_options(
        run,
        "local worker processes running cells (Ray schedules by --cpus/gpus-per-cell)",
        "one per core on CPU (at most 4, for sweeps of 8+ cells each), 1 on a GPU",
    )
    _add_common(run)

    tune = sub.add_parser("tune", help="search a method's hyperparameters for the best validation AUROC")
    tune.add_argument("--method", required=True, help="the method to tune (see `bench list`)")
    tune.add_argument("--dataset", default="digits", help="dataset (default: digits)")
    tune.add_argument("--protocol", default="one-class", help="protocol (default: one-class)")
    tune.add_argument("--classes", default="all", help="'all' or a comma list of classes to tune on")
    tune.add_argument(
        "--trials", type=int, default=30, help="finished trials the study should hold (default: 30)"
    )
    tune.add_argument("--seed", type=int, default=0, help="split and sampler seed (default: 0)")
    tune.add_argument("--study", help="study name (default: METHOD.DATASET.PROTOCOL.cCLASSES.sSEED)")
    tune.add_argument(
        "--storage", help="Optuna storage URL or .log journal file (default: sqlite:///RESULTS/optuna.db)"
    )
    _add_cell_options(tune, "fix a hyperparameter for every trial, e.g. vae-elbo.epochs=10 (repeatable)")
    _add_scale_options(tune, "workers running trials of the one study (processes or Ray tasks)", "1")
    _add_common(tune)

    sub.add_parser("list", help="list methods, datasets and protocols").add_argument(
        "--data-dir", help="folder with dataset files (also $BENCH_DATA)"
    )

    board = sub.add_parser("leaderboard", help="rank methods from the MLflow runs; write leaderboard.md/.csv")
    board.add_argument(
        "--no-roc", action="store_true", help="skip the per-class ROC overlays (they read scores)"
    )
    _add_common(board)

    ui = sub.add_parser("ui", help="start the MLflow UI on 127.0.0.1 against the results store")
    _add_common(ui)
    ui.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    return top


def cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import run_sweep

    cfg = RunConfig(
        methods=split_list(args.methods),
        datasets=split_list(args.datasets),
        protocols=split_list(args.protocols),
        classes=parse_classes(args.classes),
        seeds=parse_seeds(args.seeds),
        contamination=args.contamination,
        anomaly_ratio=args.anomaly_ratio,
        known_classes=parse_classes(args.known) if args.known else None,
        labels=args.labels,
        results=args.results,
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        device=args.device,
        data_dir=args.data_dir,
        rerun=args.rerun,
        plugins=tuple(args.plugin),
        overrides=tuple(args.set),
        threshold=args.threshold,
        params_from=tuple(args.params_from),
        precision=args.precision,
        jobs=args.jobs,
        executor=args.executor,
        ray_address=args.ray_address,
        cpus_per_cell=args.cpus_per_cell,
        gpus_per_cell=args.gpus_per_cell,
    )
    return run_sweep(cfg).exit_code


def cmd_tune(args: argparse.Namespace) -> int:
    from bench.tune import TuneConfig, run_tune

    if args.trials < 1:
        raise BenchError("--trials needs at least 1")
    run_tune(
        TuneConfig(
            method=args.method,
            dataset=args.dataset,
            protocol=args.protocol,
            classes=parse_classes(args.classes),
            trials=args.trials,
            seed=args.seed,
            study=args.study,
            storage=args.storage,
            results=args.results,
            tracking_uri=args.tracking_uri,
            experiment=args.experiment,
            device=args.device,
            precision=args.precision,
            data_dir=args.data_dir,
            contamination=args.contamination,
            anomaly_ratio=args.anomaly_ratio,
            overrides=tuple(args.set),
            plugins=tuple(args.plugin),
            jobs=args.jobs or 1,
            executor=args.executor,
            ray_address=args.ray_address,
            cpus_per_cell=args.cpus_per_cell,
            gpus_per_cell=args.gpus_per_cell,
        )
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bench.protocols import PROTOCOLS
    from bench.registry import DATASETS, METHODS, load_plugins, loaded_plugins

    load_plugins()
    console = Console()
    methods = Table(title="methods")
    for col in ("name", "needs from the protocol", "family", "source"):
        methods.add_column(col)
    for info, _ in METHODS:
        methods.add_row(info.name, ", ".join(sorted(info.needs)) or "-", info.family, info.paper)
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
    for plugin in loaded_plugins():
        console.print(f"plugin: {plugin}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.report import build_report
    from bench.tracking import Tracker, default_uri

    results = Path(args.results)
    if not args.tracking_uri and not (results / "mlflow.db").is_file():
        raise BenchError(f"no MLflow store at {results / 'mlflow.db'}: run `python -m bench run` first")
    tracker = Tracker(args.tracking_uri or default_uri(results), args.experiment, results / "artifacts")
    _, paths = build_report(tracker, results, roc_curves=not args.no_roc)
    print(paths[0].read_text())
    print("AUROC per class (mean ± std over seeds):\n")
    print(paths[2].read_text())
    print(
        f"wrote {len(paths)} files: {', '.join(p.name for p in paths[:5])}, figures in {results / 'figures'}"
    )
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


COMMANDS = {"run": cmd_run, "tune": cmd_tune, "list": cmd_list, "leaderboard": cmd_leaderboard, "ui": cmd_ui}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        for plugin in args.plugin:
            load_user_plugin(plugin)
        return COMMANDS[args.command](args)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
