"""bench: an open benchmark harness for image anomaly detection."""

from bench.data import TrainData
from bench.deep import DeepMethod
from bench.method import Env, Method, NotFittedError
from bench.registry import register_dataset, register_method

__version__ = "0.1.0"
__all__ = [
    "DeepMethod",
    "Env",
    "Method",
    "NotFittedError",
    "TrainData",
    "register_dataset",
    "register_method",
]
