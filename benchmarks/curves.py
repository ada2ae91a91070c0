"""The fit curves of a store's cells as one table: what fine-tuning did to the features, per cell.

    python benchmarks/curves.py RESULTS [--methods panda,msc] [--experiment NAME]

For each finished cell of the named methods: its AUROC, the loss after the first and the last
epoch, and the two collapse measures that ``FineTunedKNN.measures`` logs on 1,024 normal training
images before training (step 0) and after the last epoch: the features' variance (and the share
of it kept) and their effective rank. A shrink that keeps the rank leaves the kNN ranking as it
was; a falling rank is the features collapsing onto fewer directions (docs/results.md, "PANDA's
gap, measured").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import bench
from bench.report.by_class import table_markdown
from bench.tracking.tracker import Tracker

CURVES = ("loss", "feature_variance", "feature_rank")


def table(results: Path, methods: list[str], experiment: str) -> pd.DataFrame:
    cells = bench.cells(results, experiment=experiment)
    cells = cells[(cells["status"] == "FINISHED") & cells["method"].str.split("[").str[0].isin(methods)]
    tracker = Tracker.existing(results, None, experiment)
    rows = []
    for cell in cells.to_dict("records"):
        c = {name: tracker.runs.curve(cell["run_id"], name) for name in CURVES}
        if not c["feature_variance"]:
            continue
        var, rank, loss = c["feature_variance"], c["feature_rank"], c["loss"]
        rows.append(
            {
                "method": cell["method"],
                "class": cell["class"],
                "seed": cell["seed"],
                "auroc": cell["auroc"],
                "epochs": loss[-1][0],
                "loss first -> last": f"{loss[0][1]:.3f} -> {loss[-1][1]:.3f}",
                "variance kept": var[-1][1] / var[0][1],
                "rank before -> after": f"{rank[0][1]:.1f} -> {rank[-1][1]:.1f}",
                "fit s": f"{cell['fit_seconds']:.0f}",
            }
        )
    return pd.DataFrame(rows).sort_values(["class", "method"]) if rows else pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--methods", default="panda,msc")
    parser.add_argument("--experiment", default="bench")
    args = parser.parse_args()
    found = table(args.results, args.methods.split(","), args.experiment)
    print(table_markdown(found) if len(found) else "no cell with curves in that store")


if __name__ == "__main__":
    main()
