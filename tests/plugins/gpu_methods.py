"""A method that asks the GPU for far more memory than it has: its cell must fail alone."""

from __future__ import annotations

import numpy as np
import torch

from bench.api import Env, Method, TrainData, register_method


@register_method("test-cuda-oom")
class CudaOutOfMemory(Method):
    def fit(self, train: TrainData, env: Env) -> CudaOutOfMemory:
        self.hog_ = torch.empty(1 << 44, dtype=torch.uint8, device=env.device)  # 16 TiB
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


@register_method("test-cuda-assert")
class DeviceSideAssert(Method):
    """Indexes past the end of a CUDA tensor: a device-side assert, after which this process's CUDA
    context fails every call; its worker must leave so that later cells run in a fresh one."""

    def fit(self, train: TrainData, env: Env) -> DeviceSideAssert:
        values = torch.zeros(3, device=env.device)
        values[torch.tensor([10], device=env.device)].sum().item()
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))
