"""Local worker processes that run cells, one cell per worker at a time, so a death names its cell.

Cells never run in the sweep's own process (unless ``--in-process`` asks for it
while debugging): a method that segfaults, is killed by the kernel's OOM killer,
calls ``os._exit`` or poisons its CUDA context takes its worker down, not the
sweep. The pool sees the worker's end (its exit status or the signal that
killed it), reports the cell it was running as FAILED with that reason, and
starts a fresh worker for the cells still to run. A worker whose cell failed
with a CUDA error leaves after reporting it, since every later cell in that
process would fail too.

Workers are forked from a forkserver that has imported bench, torch and the
built-in methods once: a fresh worker is ready in a tenth of a second instead
of the several seconds a spawned interpreter needs. They ignore SIGINT: a
Ctrl-C is the sweep's to handle (it stops the workers), so a
``KeyboardInterrupt`` inside a worker can only be a method's own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from bench.cell import Outcome
from bench.data.dataset import Dataset
from bench.errors import BenchError
from bench.registry import builtin_modules
from bench.runtime.processes import how_it_ended, init_worker, main_left_out, watch_driver
from bench.sweep.job import Job, crashed, execute, poisons_process, with_figures
from bench.sweep.order import CellQueue
from bench.tracking import owner

# What each worker would import anyway (the built-in methods among it); the forkserver imports it
# once for all of them. torch._dynamo is what torch's optimizers import when the first is made:
# about a second that the first torch cell of every worker paid inside its fit time.
PRELOAD = [
    "bench.sweep.job",
    "torch._dynamo",
    "bench.report.plots",
    "matplotlib.figure",  # a cell's figures (seaborn draws only the leaderboard's, in the sweep)
    *builtin_modules("bench.methods"),
]


def context() -> multiprocessing.context.BaseContext:
    """Forked from a clean server process: never from the sweep, which may hold torch threads."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # not on Linux or macOS
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm_up() -> None:
    """Start the forkserver now, so that it imports bench while the sweep plans and opens its store
    (a first worker then starts in a tenth of a second instead of waiting for those imports)."""
    ctx = context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def serve(
    conn: Connection,
    driver: str,
    plugins: tuple[str, ...],
    threads: int,
    datasets: Mapping[str, Dataset],
    shipped: bytes | None = None,
) -> None:
    """A worker's life: get ready, then run each job the pool sends until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the sweep, which stops its workers
    watch_driver(driver)
    try:
        init_worker(plugins, threads, datasets, shipped)
    except Exception as exc:
        conn.send(("broken", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return

        def on_epoch(epoch: int, epochs: int, loss: float) -> None:
            conn.send(("epoch", epoch, epochs, loss))

        outcome = with_figures(execute(job, None, on_epoch), job)
        leaving = poisons_process(outcome)
        conn.send(("done", outcome, leaving))
        if leaving:
            return


@dataclass(eq=False)
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    job: Job | None = None
    spoke: list[str] = field(default_factory=list)  # why it could not start, if it said


class PoolExecutor:
    """``jobs`` worker processes on this machine, each with ``cores // jobs`` torch threads.

    Each worker runs one cell at a time. One that dies is replaced, and the cell
    it was running is the one reported FAILED, with the signal or exit status;
    the cells in the other workers go on undisturbed.
    """

    def __init__(
        self,
        jobs: int,
        datasets: Mapping[str, Dataset],
        plugins: tuple[str, ...],
        threads: int,
        on_epoch: Callable[[int, int, float], None] | None = None,
        shipped: bytes | None = None,
    ) -> None:
        self.jobs = jobs
        self.shipped = shipped
        self.datasets = dict(datasets)
        self.plugins = plugins
        self.threads = threads
        self.on_epoch = on_epoch
        self.ctx = context()
        self.workers: list[Worker] = []
        self.started = 0

    def _start(self) -> Worker:
        mine, theirs = self.ctx.Pipe()
        args = (theirs, owner.me(), self.plugins, self.threads, self.datasets, self.shipped)
        process = self.ctx.Process(target=serve, args=args, daemon=True, name=f"bench-worker-{self.started}")
        with main_left_out():
            process.start()
        theirs.close()
        self.started += 1
        worker = Worker(process, mine)
        self.workers.append(worker)
        return worker

    def run(self, todo: CellQueue) -> Iterator[Outcome]:
        while len(self.workers) < min(self.jobs, len(todo)):
            self._start()
        while todo or any(w.job is not None for w in self.workers):
            for worker in list(self.workers):
                if worker.job is None and todo:
                    self._give(worker, todo)
            busy = [w for w in self.workers if w.job is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    yield from self._hear(worker, todo)

    def _give(self, worker: Worker, todo: CellQueue) -> None:
        job = todo.take()
        try:
            worker.conn.send(job)
            worker.job = job
        except OSError:  # it died while idle (killed from outside): the job waits for its replacement
            todo.put_back(job)
            for _ in self._hear(worker, todo):  # its last words ("ready", or why it could not start)
                pass

    def _hear(self, worker: Worker, todo: CellQueue) -> Iterator[Outcome]:
        """Everything ``worker`` said: its progress, its cell's outcome, or its death."""
        ended = False
        while True:
            try:
                if not worker.conn.poll():
                    break
                message = worker.conn.recv()
            except (EOFError, OSError):
                ended = True
                break
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "broken":
                worker.spoke.append(message[1])
            elif kind == "epoch" and self.on_epoch is not None:
                self.on_epoch(*message[1:])
            elif kind == "done":
                _, outcome, leaving = message
                worker.job = None
                todo.ran(outcome.job_id, outcome.result)  # before the next cell is chosen
                if leaving:  # its CUDA context is poisoned: a fresh process for the next cell
                    self._retire(worker)
                    if todo:
                        self._start()
                elif todo:  # its next cell runs while the sweep logs this one
                    self._give(worker, todo)
                yield outcome
                return
        if not ended and worker.process.is_alive():
            return
        job = worker.job
        self._bury(worker, todo)
        if job is not None:
            yield crashed(job, how_it_ended(worker.process.exitcode))

    def _bury(self, worker: Worker, todo: CellQueue) -> None:
        """A dead worker: gone, and replaced while there is work; one that never got ready stops all."""
        self._retire(worker)
        if not worker.ready:
            said = f": {worker.spoke[0]}" if worker.spoke else f" ({how_it_ended(worker.process.exitcode)})"
            raise BenchError(f"a worker process could not start{said}"[:400])
        if todo or any(w.job is not None for w in self.workers):
            self._start()

    def _retire(self, worker: Worker) -> None:
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
        self.workers.remove(worker)

    def close(self) -> None:
        """Stop every worker: idle ones are asked, busy ones (a Ctrl-C, an error) are killed."""
        for worker in self.workers:
            if worker.job is None:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                worker.process.kill()
        deadline = time.monotonic() + 5
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self.workers.clear()
