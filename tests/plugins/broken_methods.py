"""Methods that fail on purpose, to prove a failing cell is isolated and reported."""

import numpy as np
import torch

from bench.api import Method, register_method


class _Base(Method):
    def fit(self, train, env):
        self.fitted_ = True
        return self


@register_method("test-raises")
class Raises(_Base):
    def fit(self, train, env):
        raise RuntimeError("injected failure in fit")


@register_method("test-oom")
class OutOfMemory(_Base):
    def score(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")


@register_method("test-nan")
class NaNScores(_Base):
    def score(self, x):
        out = np.ones(len(x))
        out[0] = np.nan
        return out


@register_method("test-constant")
class ConstantScores(_Base):
    def score(self, x):
        return np.full(len(x), 0.5)


@register_method("test-needs-labels", needs={"anomaly_labels"})
class NeedsLabels(_Base):
    def score(self, x):
        return x.reshape(len(x), -1).mean(axis=1)


@register_method("test-kills-its-process")
class KillsItsProcess(_Base):
    """Dies as a segfault or the kernel's OOM killer would: only worker executors can survive it."""

    def fit(self, train, env):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    def score(self, x):
        return x.reshape(len(x), -1).mean(axis=1)


@register_method("test-gate")
class Gate(_Base):
    """Holds its fit at a gate the test controls, so a sweep can be caught at a known point.

    With ``$BENCH_TEST_GATE`` naming a folder, fit writes its process id into ``started`` there
    and waits until ``release`` appears (or the process is killed); without it, fit returns at once.
    """

    def fit(self, train, env):
        import os
        import time
        from pathlib import Path

        gate = os.environ.get("BENCH_TEST_GATE")
        if gate:
            (Path(gate) / "started.tmp").write_text(str(os.getpid()))
            (Path(gate) / "started.tmp").replace(Path(gate) / "started")  # whole when it appears
            while not (Path(gate) / "release").exists():
                time.sleep(0.05)
        return super().fit(train, env)

    def score(self, x):
        return x.reshape(len(x), -1).mean(axis=1)


class _Scores(_Base):
    def score(self, x):
        return x.reshape(len(x), -1).mean(axis=1)


@register_method("test-segfault")
class Segfaults(_Scores):
    """A crash in native code, for real: reads address 0 through ctypes (SIGSEGV)."""

    def fit(self, train, env):
        import ctypes

        ctypes.string_at(0)


@register_method("test-os-exit")
class ExitsAtOnce(_Scores):
    """Ends its process with no exception and no cleanup, as native code calling exit() would."""

    def fit(self, train, env):
        import os

        os._exit(3)


@register_method("test-sys-exit")
class CallsSysExit(_Scores):
    def fit(self, train, env):
        import sys

        sys.exit(3)


@register_method("test-ctrl-c")
class RaisesKeyboardInterrupt(_Scores):
    """Raises KeyboardInterrupt itself: no Ctrl-C was pressed."""

    def fit(self, train, env):
        raise KeyboardInterrupt


@register_method("test-cuda-error")
class CudaError(_Scores):
    """Fails as a device-side error does; after one, a CUDA process is unfit for any later cell."""

    def fit(self, train, env):
        raise RuntimeError("CUDA error: an illegal memory access was encountered (injected)")


@register_method("test-pid")
class ReportsItsProcess(_Scores):
    """Reports the process that ran it, so a test can tell which cells shared a worker."""

    def fit_metrics(self):
        import os

        return {"worker_pid": float(os.getpid())}


@register_method("test-pid-again")
class ReportsItsProcessAgain(ReportsItsProcess):
    pass


@register_method("test-pid-after")
class ReportsItsProcessAfter(ReportsItsProcess):
    pass
