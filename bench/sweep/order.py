"""The order a sweep hands its cells out in: a first cell of every unknown row, then rows by work left.

A row is what a leaderboard ranks: one method's settings on one dataset under
one protocol, over its classes and seeds, and it can be read only once every
cell of it has run. The plan lists cells class by class, so in that order
every row was whole only near the sweep's end: the default run's 18 cheap
rows waited minutes for the two methods that fine-tune networks. Here a row
nothing is known of first runs one cell, which measures what its cells cost
on this machine; then the row with the least work left (cells left times its
cost a cell) goes next, so rows finish whole and the cheap ones are readable
long before the dear ones.

What is known before a cell runs: a row whose cells ran in the experiment
before (other seeds, classes, an earlier copy of the data) starts from their
median seconds; a row new to the experiment whose method ran there on another
dataset or protocol is ranked by what it took there until one of its cells is
measured here (a FashionMNIST sweep after a digits one does not queue its
PyOD rows behind a 25-minute first cell of a network that fine-tunes); a row
whose first cell must compute a dataset's frozen features (shared by its
later cells, in no cell's own seconds) counts that extraction as long as the
dearest cell measured and its cells as the median one, and once that first
cell is out its later cells wait for it to report, so no second worker
blocks on the same extraction.

Nothing in a cell depends on when it runs (each one seeds itself and shares
only content-keyed caches), so the order changes when results arrive, not
what they are.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Collection, Iterable, Mapping

from bench.cell import Cell, CellResult
from bench.sweep.job import Job

Row = tuple[str, str, str]


def row_of(cell: Cell) -> Row:
    """The leaderboard row ``cell`` belongs to: method with its settings, dataset, protocol."""
    return cell.label_name, cell.dataset, cell.protocol_label


class CellQueue:
    """Jobs waiting to run; ``take`` hands out the next, ``ran`` tells it what a finished one cost."""

    def __init__(
        self,
        jobs: Iterable[Job],
        known: Mapping[Row, float] | None = None,
        extracting: Collection[Row] = (),
    ) -> None:
        """``known``: seconds a cell of a row took before (``Runs.row_seconds``); ``extracting``: rows
        whose first cell must first compute frozen features for the whole dataset."""
        self.rows: dict[Row, deque[Job]] = {}
        for job in jobs:
            self.rows.setdefault(row_of(job.cell), deque()).append(job)
        self.position = {row: i for i, row in enumerate(self.rows)}  # plan order, to break ties
        # a row's cost: its cheapest cell measured now, or what its cells took before, in seconds
        known = known or {}
        self.cost = {row: seconds for row, seconds in known.items() if row in self.rows}
        # a row new here whose method ran on another dataset or protocol in the experiment: its
        # cheapest there, until a cell of it is measured here
        elsewhere: dict[str, float] = {}
        for (method, *_), seconds in known.items():
            elsewhere[method] = min(seconds, elsewhere.get(method, math.inf))
        self.guess = {
            row: elsewhere[row[0]] for row in self.rows if row not in self.cost and row[0] in elsewhere
        }
        # rows whose first cell must compute a dataset's frozen features (shared by the later cells, in
        # no cell's seconds): ranked as a typical measured row until that cell is out, then held back
        # until it reports, so that no second worker waits on the same extraction
        self.extracting = {row for row in extracting if row in self.rows and row not in self.cost}
        self.held: set[Row] = set()
        # rows nothing is known of: their first cells go out before any other cell
        ranked = {*self.cost, *self.guess, *self.extracting}
        self.unmeasured = deque(row for row in self.rows if row not in ranked)
        self.handed: dict[int, Row] = {}
        self.back: deque[Job] = deque()  # handed out but could not start: they go first

    def __len__(self) -> int:
        return len(self.back) + sum(len(jobs) for jobs in self.rows.values())

    def take(self) -> Job:
        """The next job: the first cell of a row nothing is known of, else a cell of the cheapest row."""
        if self.back:
            job = self.back.popleft()
            self.handed[job.id] = row_of(job.cell)
            return job
        if self.unmeasured:
            row = self.unmeasured.popleft()
        else:
            measured = list(self.cost.values())
            typical = statistics.median(measured) if measured else math.inf
            extraction = max(measured, default=math.inf)  # a guess: as long as the dearest cell
            row = min(self.rows, key=lambda row: self._rank(row, typical, extraction))
        if row in self.extracting:
            self.extracting.discard(row)
            self.held.add(row)
        job = self.rows[row].popleft()
        if not self.rows[row]:
            del self.rows[row]
        self.handed[job.id] = row
        return job

    def put_back(self, job: Job) -> None:
        """A job handed out that could not start: it goes next."""
        self.handed.pop(job.id, None)
        self.back.appendleft(job)

    def ran(self, job_id: int, result: CellResult) -> None:
        """What a finished cell cost (its fit and scoring, from its own clock), for its row's rank."""
        row = self.handed.pop(job_id, None)
        if row is None or result.began is None or result.ended is None:
            return
        seconds = (result.ended - result.began) / 1000
        self.cost[row] = min(seconds, self.cost.get(row, math.inf))

    def _rank(self, row: Row, typical: float, extraction: float) -> tuple[bool, float, int]:
        """The row with the least work left first (its cells left times its cost a cell), so rows
        finish whole and in order of cost; a row whose first cell is still running after every
        measured one (it is the dearer so far), in plan order; one whose first cell is extracting
        features, last. A row yet to extract counts that extraction as long as the dearest cell
        measured, and its cells as the median one."""
        left = len(self.rows[row])
        if row in self.cost:
            return False, left * self.cost[row], self.position[row]
        if row in self.extracting:
            return False, extraction + left * typical, self.position[row]
        return row in self.held, left * self.guess.get(row, math.inf), self.position[row]
