"""What a cell costs in bench, beside what it would cost without bench and what the hardware allows.

    python benchmarks/cost.py                              # every method on digits, all classes
    python benchmarks/cost.py --methods pyod-knn,ae-threshold --seeds 3
    python benchmarks/cost.py --dataset fashion-mnist --methods panda --classes 0 --jobs 2
    python benchmarks/cost.py --device cuda --methods pyod-knn,ae-threshold,panda   # on a GPU

Per method, one sweep of its own (``bench run`` through the Python API, into
a scratch store, one worker unless ``--jobs``) gives the wall seconds per cell
and the fit and score seconds the cells logged; bench's overhead is the rest
(wall minus fit and score, per cell: the worker's hand-off, the split, the
store, the figures). Beside it, two limits:

- bare: the same cells' fit and score with the plugin class called directly
  in a loop in this process (splits made beforehand, the same torch threads),
  for ``--bare`` methods (a PyOD detector and ``ae-threshold`` by default);
  the difference from bench's wall is what bench adds;
- FLOPs: a method's fit and score of one cell counted in torch's operators by torch's
  ``FlopCounterMode``, over this machine's measured convolution throughput
  (a large 3x3 convolution, forward, the same threads): the seconds the
  arithmetic alone would take, so fit + score over it says how far a method
  is from the hardware.

A sweep's own start (planning, a fresh store, the worker pool) is measured
once (two ``pyod-hbos`` sweeps of 1 and 10 cells) and left out of the
per-cell figures. Writes the table to
``RESULTS/cost-DATASET.md`` too.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

DEFAULT_BARE = ("pyod-knn", "ae-threshold")


def conv_throughput(threads: int, device: str) -> float:
    """This machine's convolution throughput in FLOP/s: a 1x1, 256-channel convolution forward in
    fp32 (the precision cells train in on CPU), a dense product that no Winograd or FFT trick
    shortens, so its FLOPs are the ones done."""
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(threads)
    batch = 32 if device == "cpu" else 256
    x = torch.randn(batch, 256, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 1, 1, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * 256 * 28 * 28 * 256
    with torch.no_grad():
        for _ in range(3):
            F.conv2d(x, w)
        n = 10 if device == "cpu" else 100
        _sync(device)
        start = time.perf_counter()
        for _ in range(n):
            F.conv2d(x, w)
        _sync(device)
    return flops * n / (time.perf_counter() - start)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sweep(methods: list[str], args: argparse.Namespace, folder: Path) -> tuple[float, list]:
    """One sweep of ``methods`` into ``folder``: its wall seconds and its finished cells."""
    from rich.console import Console

    from bench.config import RunConfig
    from bench.sweep.driver import run_sweep

    cfg = RunConfig(
        methods=tuple(methods),
        datasets=(args.dataset,),
        classes=args.class_list,
        seeds=tuple(range(args.seeds)),
        jobs=args.jobs,
        device=args.device,
        figures=not args.no_figures,
        fast_kernels=args.fast_kernels,
        results=str(folder),
        experiment="cost",
        data_dir=args.data_dir,
    )
    report = run_sweep(cfg, Console(quiet=True))
    if report.failed:
        raise SystemExit(f"cost: {len(report.failed)} cells failed, e.g. {report.failed[0][1]}")
    return report.seconds, report.ok


def bare(name: str, args: argparse.Namespace, threads: int) -> float:
    """Seconds per cell of the plugin's fit and score called directly, splits made beforehand."""
    import torch

    from bench.contract.method import Env
    from bench.data.dataset import Split
    from bench.data.protocol import ProtocolOptions, make_split
    from bench.registry import DATASETS, METHODS
    from bench.sweep.fit_score import seed_everything, train_data

    torch.set_num_threads(threads)
    dataset = DATASETS.get(args.dataset)[1].load(args.data_dir)
    info, cls = METHODS.get(name)
    classes = args.class_list or range(dataset.n_classes)
    splits = [
        make_split(dataset, "one-class", k, seed, ProtocolOptions())
        for seed in range(args.seeds)
        for k in classes
    ]

    def one(split: Split) -> None:
        seed_everything(0)
        cls().fit(train_data(split, info.needs), Env(device=args.device, seed=0)).score(split.test.x)

    one(splits[0])  # untimed: what a process pays once (imports, a first optimiser) is not a cell's
    _sync(args.device)
    start = time.perf_counter()
    for split in splits:
        one(split)
    _sync(args.device)
    return (time.perf_counter() - start) / len(splits)


def conv_backward_flops(
    grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, _output_padding,
    _groups, output_mask, out_shape=None, **kwargs
) -> int:  # fmt: skip
    """A convolution's backward: each gradient asked for (input, weight) costs the forward's
    multiply-adds. torch's own formula counts a grouped convolution's backward as a dense one (16
    times a depthwise 3x3 over 16 channels), which would put EfficientNet's bound above its time."""
    macs = math.prod(x_shape if transposed else grad_out_shape) * math.prod(w_shape[1:])
    return 2 * macs * (int(output_mask[0]) + int(output_mask[1]))


def cell_flops(name: str, args: argparse.Namespace) -> float | None:
    """FLOPs of one cell's fit and score (class 0 or the first asked, seed 0) in torch's operators;
    None for a method that uses none (scikit-learn's and most of PyOD's)."""
    from torch.utils.flop_counter import FlopCounterMode

    from bench.contract.method import Env
    from bench.data.protocol import ProtocolOptions, make_split
    from bench.nets.features import frozen_split
    from bench.registry import DATASETS, METHODS
    from bench.sweep.fit_score import train_data

    info, cls = METHODS.get(name)
    dataset = DATASETS.get(args.dataset)[1].load(args.data_dir)
    k = (args.class_list or (0,))[0]
    split = make_split(dataset, "one-class", k, 0, ProtocolOptions())
    method = cls()
    extractor = method.extractor()
    if extractor is not None:  # what the harness hands it: the cached maps, made outside fit
        from bench.nets.features import FeatureCache

        cache = FeatureCache(Path(tempfile.gettempdir()) / "bench-cost-features")
        split = frozen_split(split, dataset, extractor, cache, args.device)
    from torch.ops import aten

    grouped = {aten.convolution_backward: conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=grouped) as counter:
        method.fit(train_data(split, info.needs), Env(device=args.device, seed=0))
        method.score(split.test.x)
    return float(counter.get_total_flops()) or None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="all", help="'all' or a comma list (default: all)")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--classes", default=None, help="comma list (default: every class)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="cells at once (default 1: clean attribution)")
    ap.add_argument("--bare", default=",".join(DEFAULT_BARE), help="methods timed in a bare loop too")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOPs count (a fit more each)")
    ap.add_argument("--no-figures", action="store_true", help="sweeps as `bench run --no-figures`")
    ap.add_argument("--fast-kernels", action="store_true", help="sweeps as `bench run --fast-kernels`")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--results", default="results")
    args = ap.parse_args()
    args.class_list = tuple(int(c) for c in args.classes.split(",")) if args.classes else None

    from bench.plugins import load_plugins
    from bench.registry import METHODS
    from bench.runtime.processes import cores

    load_plugins()
    names = METHODS.names() if args.methods == "all" else args.methods.split(",")
    names = [n for n in names if not METHODS.get(n)[1].unavailable()]
    threads = max(1, cores() // args.jobs)
    scratch = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    started = time.perf_counter()
    rows = []
    try:
        start_s = sweep_start(args, scratch)
        peak = conv_throughput(threads, args.device)
        print(f"sweep start (the intercept of 1- and 10-cell pyod-hbos sweeps): {start_s:.2f} s")
        print(f"convolution throughput: {peak / 1e9:.1f} GFLOP/s on {threads} threads", flush=True)
        for name in names:
            wall, cells = sweep([name], args, scratch / name)
            n = len(cells)
            if not n:  # n/a on this protocol (it needs labels the one-class split does not give)
                print(f"  {name:14s} no cells: n/a on one-class", flush=True)
                continue
            fit = sum(m["fit_seconds"] for _, m in cells) / n
            score = sum(m["score_seconds"] for _, m in cells) / n
            per_cell = (wall - start_s) / n
            row = {
                "method": name,
                "cells": n,
                "wall": per_cell,
                "fit": fit,
                "score": score,
                "overhead": per_cell - fit - score,
                "bare": bare(name, args, threads) if name in args.bare.split(",") else None,
                "flops": None if args.no_flops else cell_flops(name, args),
            }
            row["bound"] = row["flops"] / peak if row["flops"] else None
            rows.append(row)
            print(line(row), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    head = (
        f"bench cost on {args.dataset} one-class ({args.seeds} seed(s)"
        f"{', --no-figures' if args.no_figures else ''}), {device_name(args.device)}, "
        f"{os.cpu_count()} cores, {args.jobs} cell(s) at once with {threads} torch threads each; "
        f"sweep start {start_s:.2f} s; convolution throughput {peak / 1e9:.1f} GFLOP/s; "
        f"{time.perf_counter() - started:.0f} s in all\n"
    )
    text = head + "\n" + table(rows) + "\n"
    print("\n" + text)
    out = Path(args.results) / f"cost-{args.dataset}{'-no-figures' if args.no_figures else ''}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


def sweep_start(args: argparse.Namespace, scratch: Path) -> float:
    """A sweep's fixed cost (planning, a fresh store, the worker pool): the intercept of the walls
    of two ``pyod-hbos`` sweeps on digits, of 1 cell and of 10 (each less its fit and score), after
    a first one that pays this process's imports."""
    walls = {}  # cells -> wall less fit and score; the first sweep's entry is replaced by the second's
    for i, classes in enumerate(((1,), (0,), None)):
        one = argparse.Namespace(**vars(args))
        one.dataset, one.data_dir, one.class_list, one.seeds, one.jobs = "digits", None, classes, 1, 1
        wall, cells = sweep(["pyod-hbos"], one, scratch / f"start-{i}")
        walls[len(cells)] = wall - sum(m["fit_seconds"] + m["score_seconds"] for _, m in cells)
    (n1, w1), (n2, w2) = sorted(walls.items())
    return w1 - (w2 - w1) / (n2 - n1) * n1


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model as a cell's provenance records it."""
    import torch

    from bench.sweep.provenance import cpu_name

    return f"GPU {torch.cuda.get_device_name(device)}" if device.startswith("cuda") else f"CPU {cpu_name()}"


def _s(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def line(row: dict) -> str:
    extra = f"  bare {row['bare']:.3f}" if row["bare"] is not None else ""
    if row["bound"] is not None:
        extra += f"  FLOPs bound {row['bound']:.3f}"
    return (
        f"  {row['method']:14s} {row['cells']:4d} cells  wall {row['wall']:.3f}  fit {row['fit']:.3f}  "
        f"score {row['score']:.3f}  overhead {row['overhead']:.3f} s/cell{extra}"
    )


def table(rows: list[dict]) -> str:
    out = [
        "| method | cells | wall s / cell | fit s | score s | overhead s | bare s | GFLOP / cell "
        "| FLOPs bound s | (fit + score) / bound |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = (r["fit"] + r["score"]) / r["bound"] if r["bound"] else None
        out.append(
            f"| {r['method']} | {r['cells']} | {_s(r['wall'])} | {_s(r['fit'])} | {_s(r['score'])} "
            f"| {_s(r['overhead'])} | {_s(r['bare'])} | {_s(r['flops'] and r['flops'] / 1e9, 2)} "
            f"| {_s(r['bound'])} | {_s(ratio, 1)} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    main()
