"""The order cells are handed out in: each row's first cell, then the cheapest measured rows whole."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench.cell import CellResult
from bench.config import RunConfig
from bench.sweep.job import Job
from bench.sweep.order import CellQueue, row_of
from bench.sweep.plan import plan


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Three rows of three classes, as the plan lists them: class by class."""
    cfg = RunConfig(
        methods=("pyod-knn", "pyod-hbos", "ae-threshold"),
        classes=(0, 1, 2),
        results=str(tmp_path_factory.mktemp("out")),
    )
    cells = plan(cfg).cells
    assert [c.unit for c in cells] == [0, 0, 0, 1, 1, 1, 2, 2, 2], "the plan lists cells class by class"
    return [Job(i, cell, "cpu") for i, cell in enumerate(cells)]


def cost(seconds: float) -> CellResult:
    return CellResult(ok=True, began=1_000_000, ended=1_000_000 + round(seconds * 1000))


def names(taken: list[Job]) -> list[str]:
    return [f"{job.cell.method} {job.cell.unit}" for job in taken]


def test_each_rows_first_cell_then_the_cheapest_rows_whole(jobs):
    queue = CellQueue(jobs)
    assert len(queue) == 9
    probes = [queue.take() for _ in range(3)]
    assert names(probes) == ["pyod-knn 0", "pyod-hbos 0", "ae-threshold 0"]
    for job, seconds in zip(probes, (0.5, 0.1, 2.0), strict=True):
        queue.ran(job.id, cost(seconds))
    rest = [queue.take() for _ in range(6)]
    assert names(rest) == [
        "pyod-hbos 1",
        "pyod-hbos 2",
        "pyod-knn 1",
        "pyod-knn 2",
        "ae-threshold 1",
        "ae-threshold 2",
    ]
    assert not queue and len(queue) == 0
    assert sorted(job.id for job in probes + rest) == list(range(9)), "every job once"


def test_a_row_still_unmeasured_waits_behind_the_measured_ones(jobs):
    """A first cell that has not reported (or crashed, reporting no cost) is the dearer so far; with
    nothing measured, rows go in plan order; a cheaper cell of a row lowers its rank."""
    queue = CellQueue(jobs)
    knn, hbos, ae = (queue.take() for _ in range(3))
    assert names([queue.take()]) == ["pyod-knn 1"], "nothing measured yet: plan order"
    queue.ran(ae.id, cost(1.0))
    queue.ran(knn.id, CellResult(ok=False, error="WorkerCrashed"))  # no clock: no cost
    assert names([queue.take()]) == ["ae-threshold 1"]
    queue.ran(hbos.id, cost(3.0))
    later = queue.take()
    assert names([later]) == ["ae-threshold 2"]
    queue.ran(later.id, cost(0.2))
    assert queue.cost[row_of(later.cell)] == pytest.approx(0.2), "a row's cheapest cell ranks it"
    assert names([queue.take(), queue.take(), queue.take()]) == ["pyod-hbos 1", "pyod-hbos 2", "pyod-knn 2"]


def test_a_row_new_here_is_ranked_by_what_its_method_took_on_another_dataset(jobs):
    """Known elsewhere in the experiment, a row is ranked by that until a cell of it is measured
    here; a method never run anywhere still gets its first cell out before any other."""
    elsewhere = {
        ("ae-threshold", "fashion-mnist", "one-class"): 5.0,
        ("pyod-hbos", "fashion-mnist", "one-class"): 0.1,
    }
    queue = CellQueue(jobs, elsewhere)
    knn = queue.take()
    assert names([knn]) == ["pyod-knn 0"], "nothing known of it: its first cell first"
    assert names([queue.take() for _ in range(3)]) == ["pyod-hbos 0", "pyod-hbos 1", "pyod-hbos 2"]
    queue.ran(knn.id, cost(0.3))
    assert names([queue.take() for _ in range(3)]) == ["pyod-knn 1", "pyod-knn 2", "ae-threshold 0"]
    here = {row_of(job.cell): 0.3 for job in jobs if job.cell.method == "pyod-knn"}
    queue = CellQueue(jobs, here)
    assert names([queue.take() for _ in range(2)]) == ["pyod-hbos 0", "ae-threshold 0"], "knn needs none"
    assert names([queue.take() for _ in range(3)]) == ["pyod-knn 0", "pyod-knn 1", "pyod-knn 2"]


def test_a_row_that_must_compute_a_datasets_features_counts_it_as_the_dearest_cell(jobs):
    """Its first cell holds a worker for the whole dataset's extraction, which no cell's seconds
    count: no first cell of its own ahead of the others; its work guessed as the dearest measured
    cell plus its cells at the median; its later cells held back until that first one reports (no
    second worker waits on the lock)."""
    knn = {row_of(job.cell) for job in jobs if job.cell.method == "pyod-knn"}
    queue = CellQueue(jobs, extracting=knn)
    hbos, ae = queue.take(), queue.take()
    assert names([hbos, ae]) == ["pyod-hbos 0", "ae-threshold 0"]
    queue.ran(hbos.id, cost(0.1))
    queue.ran(ae.id, cost(2.0))  # knn's guess: 2.0 + 3 x 1.05 = 5.15 s; ae-threshold's 2 x 2.0 = 4.0
    taken = [queue.take() for _ in range(4)]
    assert names(taken) == ["pyod-hbos 1", "pyod-hbos 2", "ae-threshold 1", "ae-threshold 2"]
    first = queue.take()
    assert names([first]) == ["pyod-knn 0"] and queue.held == knn
    queue.ran(first.id, cost(0.01))
    assert names([queue.take(), queue.take()]) == ["pyod-knn 1", "pyod-knn 2"] and not queue


def test_a_job_that_could_not_start_goes_next(jobs):
    queue = CellQueue(jobs)
    first = queue.take()
    queue.take()
    queue.put_back(first)
    assert len(queue) == 8
    assert queue.take() is first
    assert names([queue.take()]) == ["ae-threshold 0"], "then the order goes on"


def test_a_sweep_starts_from_what_its_rows_took_before_in_the_experiment(tmp_path):
    """The store's finished cells give each row's median seconds; with every row known no first
    cell is needed, and the cheaper row runs whole first, against the plan's order."""
    import bench
    from bench.tracking.tracker import Tracker, default_uri

    def sweep(classes: list[int]) -> list[str]:
        """The sweep's cell and row lines, shortened: "pyod-knn 1", "row pyod-knn 0.991 2"."""
        out = Console(file=io.StringIO(), width=300)
        bench.run(methods=["ae-threshold", "pyod-knn"], classes=classes, in_process=True, results=tmp_path,
                  console=out)  # fmt: skip
        shown = []
        for line in out.file.getvalue().splitlines():
            if line.startswith("  ok  "):
                shown.append(f"{line.split()[1]} {line.split('|')[3].split()[1]}")
            elif line.startswith(
                "  row  "
            ):  # "  row     pyod-knn | digits | one-class  AUROC 0.991, mean of 2 ..."
                words = line.replace(",", "").split()
                shown.append(f"row {words[1]} {words[7]} {words[10]}")
        return shown

    first = sweep([0])
    assert first[::2] == ["ae-threshold 0", "pyod-knn 0"], "nothing known: each row's first cell, plan order"
    runs = Tracker(default_uri(tmp_path), "bench").runs
    cells = runs.cell_table()
    took = runs.row_seconds()
    assert set(took) == {("ae-threshold", "digits", "one-class"), ("pyod-knn", "digits", "one-class")}
    for _, cell in cells.iterrows():
        row = (cell["method_label"], cell["dataset"], cell["protocol_label"])
        assert took[row] == pytest.approx(cell["fit_seconds"] + cell["score_seconds"])
    assert took[("pyod-knn", "digits", "one-class")] < took[("ae-threshold", "digits", "one-class")]

    shown = sweep([1, 2])
    auroc = runs.cell_table().astype({"class": int}).set_index(["method", "class"])["auroc"]
    mean = {m: f"{(auroc[m, 1] + auroc[m, 2]) / 2:.3f}" for m in ("pyod-knn", "ae-threshold")}
    assert shown == [
        "pyod-knn 1",
        "pyod-knn 2",
        f"row pyod-knn {mean['pyod-knn']} 2",  # readable before the dearer row starts
        "ae-threshold 1",
        "ae-threshold 2",
        f"row ae-threshold {mean['ae-threshold']} 2",
    ]
