"""What a cell costs: wall seconds and peak memory (CUDA peak on GPU, process RSS peak on CPU)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import psutil
import torch


class PeakMemory:
    """Context manager that records the peak memory in MiB while it is open.

    On CUDA it reads the allocator's peak; on CPU a background thread samples
    the process's resident set every 10 ms (short spikes between samples can be
    missed, which is why the metric is documented as sampled).
    """

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            self._proc = psutil.Process()
            self._peak = self._proc.memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.cuda:
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._stop.set()
            if self._thread:
                self._thread.join()
            self._peak = max(self._peak, self._proc.memory_info().rss)
            self.peak_mb = self._peak / 2**20


def epoch_ms() -> int:
    """Now, in milliseconds since the epoch (MLflow's run times)."""
    return time.time_ns() // 1_000_000


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
