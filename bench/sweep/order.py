"""The order a sweep hands its cells out in: a first cell of every row, then the cheapest rows whole.

A row is what a leaderboard ranks: one method's settings on one dataset under
one protocol, over its classes and seeds, and it can be read only once every
cell of it has run. The plan lists cells class by class, so in that order
every row was whole only near the sweep's end: the default run's 18 cheap
rows waited minutes for the two methods that fine-tune networks. Here each row
first runs one cell, which measures what its cells cost on this machine; then
the row with the cheapest measured cell goes next, whole, so the rows come in
order of cost and the cheap ones are readable long before the dear ones. A
row whose cells ran in the experiment before (other seeds, classes, an
earlier version of the data) starts from their median seconds and needs no
first cell: with every row known, the cheapest go first from the start. A
row new to the experiment whose method ran there on another dataset or
protocol is ranked by what it took there until one of its cells is measured
here, so the PyOD rows of a FashionMNIST sweep after a digits one are not
queued behind a 25-minute first cell of a network that fine-tunes.

Nothing in a cell depends on when it runs (each one seeds itself and shares
only content-keyed caches), so the order changes when results arrive, not
what they are.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping

from bench.cell import Cell, CellResult
from bench.sweep.job import Job

Row = tuple[str, str, str]


def row_of(cell: Cell) -> Row:
    """The leaderboard row ``cell`` belongs to: method with its settings, dataset, protocol."""
    return cell.label_name, cell.dataset, cell.protocol_label


class CellQueue:
    """Jobs waiting to run; ``take`` hands out the next, ``ran`` tells it what a finished one cost."""

    def __init__(self, jobs: Iterable[Job], known: Mapping[Row, float] | None = None) -> None:
        """``known``: seconds a cell of a row took before (``Runs.row_seconds``)."""
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
        # rows nothing is known of: their first cells go out before any other cell
        self.unmeasured = deque(row for row in self.rows if row not in self.cost and row not in self.guess)
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
        row = self.unmeasured.popleft() if self.unmeasured else min(self.rows, key=self._rank)
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

    def _rank(self, row: Row) -> tuple[float, int]:
        """Cheapest measured (or guessed) first; a row whose first cell is still running after every
        measured one (it is the dearer so far), in plan order."""
        return self.cost.get(row, self.guess.get(row, math.inf)), self.position[row]
