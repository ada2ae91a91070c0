"""What a plugin author imports: everything a method, dataset or protocol is written with.

One place, documented in docs/adding-a-method.md and used by ``bench new-method``::

    from bench.api import Method, register_method, Count, Float, Space

Methods subclass ``Method`` (or ``DeepMethod`` for a torch network trained by bench's one
loop), declare typed hyperparameters in ``__init__`` (``Count``, ``Positive``, ``Range`` ...),
optional search spaces (``Float``, ``Int``, ``Choice``) and published figures (``Published``),
and register with ``@register_method``. Datasets subclass ``DatasetSource``; protocols are
functions registered with ``@register_protocol`` over the helpers of ``bench.data.splits``.
"""

from typing import Annotated

from bench.contract.method import Env, Method, NotFittedError, flatten, mean_plus_k_std
from bench.contract.params import Count, Fraction, NonNegative, Positive, Range, Widths
from bench.contract.published import Published
from bench.contract.space import Choice, Float, Int, Space
from bench.data.dataset import Dataset, DatasetSource, TrainData, stratified_split
from bench.data.protocol import ProtocolOptions, register_protocol
from bench.nets.training import Batch, DeepMethod, MeanKStdThreshold, Plan, in_batches
from bench.registry import ANOMALY_LABELS, CLASS_LABELS, LABELED_SET, register_dataset, register_method

__all__ = [
    "ANOMALY_LABELS",
    "CLASS_LABELS",
    "LABELED_SET",
    "Annotated",
    "Batch",
    "Choice",
    "Count",
    "Dataset",
    "DatasetSource",
    "DeepMethod",
    "Env",
    "Float",
    "Fraction",
    "Int",
    "MeanKStdThreshold",
    "Method",
    "NonNegative",
    "NotFittedError",
    "Plan",
    "Positive",
    "ProtocolOptions",
    "Published",
    "Range",
    "Space",
    "TrainData",
    "Widths",
    "flatten",
    "in_batches",
    "mean_plus_k_std",
    "register_dataset",
    "register_method",
    "register_protocol",
    "stratified_split",
]
