"""Speed benchmark: bench's deep methods against PyOD's deep detectors run directly, on the same cells.

    python benchmarks/speed.py                      # FashionMNIST one-class, classes 0,1,2, 20 epochs
    python benchmarks/speed.py --classes 0 --device cuda --epochs 30
    python benchmarks/speed.py --pyod-nets default   # PyOD's own layer widths

Pairs, each with the same epochs and batch size (``--epochs``, ``--batch-size``):
``ae-threshold`` / PyOD ``AutoEncoder``, ``vae-elbo`` / PyOD ``VAE``, ``ae-kde``
(early stopping off, so it runs every epoch) / PyOD ``DeepSVDD``. Both sides see
the same images (the one-class split of each class, seed 0): bench's methods the
image tensors, PyOD's detectors the flattened pixels, fitted and scored by their
own ``fit`` and ``decision_function``. Every measurement runs in a fresh process
(so peak memory is its own), after the imports that a sweep pays once per
process; the table gives fit and score seconds, test AUROC, peak memory (CPU:
the process's sampled resident set; CUDA: the allocator's peak) and, per pair,
PyOD's time over bench's. Writes the table to ``results/speed-DEVICE-NETS.md`` too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

PAIRS = (("ae-threshold", "AutoEncoder"), ("vae-elbo", "VAE"), ("ae-kde", "DeepSVDD"))
PYOD = {
    "AutoEncoder": ("pyod.models.auto_encoder", "epoch_num"),
    "VAE": ("pyod.models.vae", "epoch_num"),
    "DeepSVDD": ("pyod.models.deep_svdd", "epochs"),
}
# ``--pyod-nets matched``: PyOD's networks given bench's layer widths (no dropout or batch norm, which
# bench's methods lack), so the time ratio compares the training loops, not the networks' sizes.
# DeepSVDD's MLP has no counterpart of ae-kde's conv autoencoder and keeps its own.
MATCHED = {
    "AutoEncoder": {"hidden_neuron_list": [32, 16, 16], "batch_norm": False, "dropout_rate": 0.0},
    "VAE": {
        "encoder_neuron_list": [400, 400],
        "decoder_neuron_list": [400, 400],
        "latent_dim": 30,
        "dropout_rate": 0.0,
    },
}


def measure(spec: dict) -> dict:
    """Fit and score one method on one class; runs in its own process."""
    import importlib
    import inspect

    import torch

    from bench.contract.method import Env, flatten
    from bench.data.dataset import TrainData
    from bench.data.protocol import ProtocolOptions, make_split
    from bench.nets.device import resolve_device
    from bench.plugins import load_plugins
    from bench.registry import DATASETS, METHODS
    from bench.scoring.metrics import auroc
    from bench.sweep.cost import PeakMemory, Stopwatch

    load_plugins()
    import torch._dynamo  # torch's optimizers import it on first use: ~2 s once per process

    device = resolve_device(spec["device"])
    dataset = DATASETS.get(spec["dataset"])[1].load(None)
    split = make_split(dataset, "one-class", spec["class"], 0, ProtocolOptions())
    torch.manual_seed(0)
    name, epochs, batch = spec["method"], spec["epochs"], spec["batch_size"]
    with PeakMemory(device) as memory:
        if name in PYOD:
            module, epochs_arg = PYOD[name]
            cls = getattr(importlib.import_module(module), name)
            accepted = inspect.signature(cls.__init__).parameters
            kwargs = {epochs_arg: epochs, "batch_size": batch, "verbose": 0, "random_state": 0}
            if spec["pyod_nets"] == "matched":
                kwargs.update(MATCHED.get(name, {}))
            x_train, x_test = flatten(split.train.x), flatten(split.test.x)
            kwargs.update({"n_features": x_train.shape[1]} if "n_features" in accepted else {})
            kwargs.update({"device": device} if "device" in accepted else {})
            detector = cls(**kwargs)
            with Stopwatch() as fit:
                detector.fit(x_train)
            with Stopwatch() as score:
                scores = detector.decision_function(x_test)
        else:
            settings = {"epochs": epochs, "batch_size": batch}
            if "patience" in METHODS.get(name)[1]().get_params():
                settings["patience"] = None
            method = METHODS.get(name)[1](**settings)
            with Stopwatch() as fit:
                method.fit(TrainData(x=split.train.x), Env(device=device, seed=0))
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
            with Stopwatch() as score:
                scores = method.score(split.test.x)
    return {
        **spec,
        "device": device,
        "fit_s": fit.seconds,
        "score_s": score.seconds,
        "auroc": auroc(split.test.anomaly, scores),
        "peak_mb": memory.peak_mb,
        "n_train": len(split.train),
        "n_test": len(split.test),
    }


def run_one(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{spec['method']} class {spec['class']} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = [
        "| class | bench method | fit s | score s | AUROC | peak MiB | PyOD detector | fit s | score s "
        "| AUROC | peak MiB | PyOD/bench fit | PyOD/bench fit+score |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for b, p in zip(rows[::2], rows[1::2], strict=True):
        lines.append(
            f"| {b['class']} | {b['method']} | {b['fit_s']:.2f} | {b['score_s']:.2f} | {b['auroc']:.3f} "
            f"| {b['peak_mb']:.0f} | {p['method']} | {p['fit_s']:.2f} | {p['score_s']:.2f} "
            f"| {p['auroc']:.3f} | {p['peak_mb']:.0f} | {p['fit_s'] / b['fit_s']:.1f}x | "
            f"{(p['fit_s'] + p['score_s']) / (b['fit_s'] + b['score_s']):.1f}x |"
        )
    lines.append("")
    for bench_name, pyod_name in PAIRS:
        b = [r for r in rows if r["method"] == bench_name]
        p = [r for r in rows if r["method"] == pyod_name]
        fit_b, fit_p = sum(r["fit_s"] for r in b), sum(r["fit_s"] for r in p)
        auc_b, auc_p = (sum(r["auroc"] for r in rs) / len(rs) for rs in (b, p))
        lines.append(
            f"- {bench_name} vs {pyod_name}: fit {fit_b:.1f}s vs {fit_p:.1f}s over {len(b)} classes "
            f"({fit_p / fit_b:.1f}x), mean AUROC {auc_b:.3f} vs {auc_p:.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--classes", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--pyod-nets",
        choices=("default", "matched"),
        default="matched",
        help="PyOD's default networks, or with bench's layer widths (default: matched)",
    )
    ap.add_argument("--results", default="results")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(json.loads(args.one))))
        return
    started = time.perf_counter()
    rows = []
    for k in (int(c) for c in args.classes.split(",")):
        for pair in PAIRS:
            for name in pair:
                spec = {
                    "method": name,
                    "class": k,
                    "dataset": args.dataset,
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "device": args.device,
                    "pyod_nets": args.pyod_nets,
                }
                rows.append(run_one(spec))
                r = rows[-1]
                print(
                    f"  {name:12s} class {k}  fit {r['fit_s']:7.2f}s  score {r['score_s']:6.2f}s  "
                    f"AUROC {r['auroc']:.3f}  peak {r['peak_mb']:.0f} MiB",
                    flush=True,
                )
    device = rows[0]["device"]
    head = (
        f"Speed on {device} ({_device_name(device)}): {args.dataset} one-class, "
        f"{rows[0]['n_train']} training / {rows[0]['n_test']} test images per class, "
        f"{args.epochs} epochs, batch {args.batch_size}, PyOD's networks {args.pyod_nets}; "
        f"{time.perf_counter() - started:.0f}s in all\n"
    )
    text = head + "\n" + table(rows) + "\n"
    print("\n" + text)
    out = Path(args.results) / f"speed-{device.replace(':', '')}-{args.pyod_nets}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")


def _device_name(device: str) -> str:
    import platform

    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


if __name__ == "__main__":
    main()
