"""Which torch device a sweep or a study runs on, chosen once."""

from __future__ import annotations

import os

import torch

from bench import schema
from bench.errors import BenchError


def resolve_device(choice: str) -> str:
    """``auto`` picks CUDA when present; asking for CUDA without one is a user error."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for, but torch sees no CUDA device")
    if choice != "cpu" and not choice.startswith("cuda"):
        raise BenchError(f"--device takes auto, cpu or cuda[:N], not {choice!r}")
    return choice


def resolve_precision(choice: str, device: str) -> str:
    """``auto`` trains in bf16 on CUDA (methods may still refuse it) and in fp32 on CPU."""
    if choice == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    if choice not in ("fp32", "bf16"):
        raise BenchError(f"--precision takes auto, fp32 or bf16, not {choice!r}")
    return choice


def apply_determinism(device: str, strict: bool = False) -> dict[str, str]:
    """Set the deterministic flags bench can (cuDNN's on CUDA; with ``strict``, every op's, which
    fails ops that have no deterministic kernel) and return those in force as ``env.*`` tags."""
    if strict:  # cuBLAS reads it when its first handle is made, which is after this on a worker
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.are_deterministic_algorithms_enabled() != strict:  # setting it imports torch's compiler (2 s)
        torch.use_deterministic_algorithms(strict)
    if device.startswith("cuda"):
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    tags = {
        schema.ENV_DETERMINISTIC: str(torch.are_deterministic_algorithms_enabled()).lower(),
        schema.ENV_THREADS: str(torch.get_num_threads()),  # sums over more threads round differently
    }
    if device.startswith("cuda"):
        tags[schema.ENV_CUDNN_DETERMINISTIC] = str(torch.backends.cudnn.deterministic).lower()
        tags[schema.ENV_CUDNN_BENCHMARK] = str(torch.backends.cudnn.benchmark).lower()
    return tags
