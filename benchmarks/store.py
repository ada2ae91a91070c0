"""How the tracking store's cost grows with it: logging a cell, resuming a sweep, the leaderboard.

    python benchmarks/store.py                       # stores of 0, 1,000 and 10,000 cell runs
    python benchmarks/store.py --sizes 0,2000 --probe 20
    python benchmarks/store.py --sizes 10000 --folder STORE   # fill STORE and keep it: a rerun goes on

One real cell (``pyod-hbos`` on digits, class 0) runs once; its outcome is
then logged again and again under distinct cell keys (seeds 1, 2, ...) through
the sweep's own path (``Tracker.log_cell`` with its check that no other sweep
logged the key, its scores and the figures its worker drew), which is
also how the store is filled: every run in it is a cell run as a sweep writes
it. At each size the benchmark times ``--probe`` more cell logs (the median
and the mean, and their ratio to the empty store's: the goal is 1.2x at
10,000), the read a resuming sweep makes (``finished_cells``, straight from
the store's tables) beside MLflow's own search for the same runs (its limit
before), and, at the largest size, the leaderboard (``bench leaderboard``'s
tables and figures).
Writes the table to ``RESULTS/store.md`` too.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def real_outcome():
    """A finished cell and its outcome, run in this process, with its figures drawn once."""
    from bench.config import RunConfig
    from bench.sweep.job import Job, execute, with_figures
    from bench.sweep.plan import plan

    swept = plan(RunConfig(methods=("pyod-hbos",), classes=(0,), results=tempfile.mkdtemp()))
    cell = swept.cells[0]
    job = Job(0, cell, "cpu")
    outcome = with_figures(execute(job, swept.datasets), job)
    return cell, outcome


def log_one(tracker, cell, outcome, seed: int) -> float:
    """Seconds to log ``outcome`` as the cell of ``seed``, the way the sweep logs a finished cell."""
    cell = dataclasses.replace(cell, seed=seed)
    start = time.perf_counter()
    tracker.log_cell(cell, outcome, "bench-store", once=True)  # with its figures: FINISHED at once
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0,1000,10000", help="store sizes in cell runs, ascending")
    ap.add_argument("--probe", type=int, default=50, help="cell logs timed at each size")
    ap.add_argument("--folder", help="fill the store here and keep it (default: a scratch folder)")
    ap.add_argument("--results", default="results")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from bench.report.board import publish
    from bench.tracking.tracker import Tracker, default_uri

    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench-store-"))
    started = time.perf_counter()
    rows = []
    try:
        cell, outcome = real_outcome()
        tracker = Tracker(default_uri(folder), "store", folder / "artifacts")
        seed, fill_s = 1 + len(tracker.runs.finished_cells()), 0.0  # a kept store goes on from its size
        for size in sizes:
            fill_start = time.perf_counter()
            while seed <= size:
                log_one(tracker, cell, outcome, seed)
                seed += 1
            fill_s += time.perf_counter() - fill_start
            took = []
            for _ in range(args.probe):
                took.append(log_one(tracker, cell, outcome, 10**9 + seed))
                seed += 1
            start = time.perf_counter()
            finished = tracker.runs.finished_cells()
            resume_s = time.perf_counter() - start
            start = time.perf_counter()
            searched = tracker.runs.runs_of_kind("cell")  # MLflow's search (every run here is FINISHED)
            search_s = time.perf_counter() - start
            assert len(searched) == len(finished)
            row = {
                "size": size,
                "runs": len(finished),
                "median_ms": statistics.median(took) * 1000,
                "mean_ms": statistics.fmean(took) * 1000,
                "resume_s": resume_s,
                "search_s": search_s,
            }
            rows.append(row)
            print(
                f"  store of {size:6d} cell runs: a cell logs in {row['median_ms']:.1f} ms (median, mean "
                f"{row['mean_ms']:.1f}); a resume reads {row['runs']} keys in {resume_s:.2f} s "
                f"(MLflow's search of the same runs: {search_s:.2f} s; filling took {fill_s:.0f} s so far)",
                flush=True,
            )
        start = time.perf_counter()
        publish(tracker, folder / "report", roc_curves=False)
        board_s = time.perf_counter() - start
    finally:
        if not args.folder:
            shutil.rmtree(folder, ignore_errors=True)
    base = rows[0]["median_ms"]
    out = [
        "| cell runs in the store | log a cell, median ms | mean ms | vs the first | resume read s "
        "| MLflow's search of them s |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r['size']:,} | {r['median_ms']:.1f} | {r['mean_ms']:.1f} | {r['median_ms'] / base:.2f}x "
        f"| {r['resume_s']:.2f} | {r['search_s']:.2f} |"
        for r in rows
    ]
    text = (
        f"bench store growth: {args.probe} cell logs timed at each size (goal: 1.2x the first at the "
        f"largest); the leaderboard of {rows[-1]['runs']:,} cell runs took {board_s:.1f} s (goal: 10 s); "
        f"{time.perf_counter() - started:.0f} s in all\n\n" + "\n".join(out) + "\n"
    )
    print("\n" + text)
    path = Path(args.results) / "store.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
