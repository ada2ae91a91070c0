"""Which torch device a sweep or a study runs on, chosen once."""

from __future__ import annotations

import torch

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
