"""What a plugin imports: everything a method, dataset or protocol is written with, and nothing else.

One place, documented in docs/adding-a-method.md, docs/adding-a-dataset.md and docs/protocols.md,
used by ``bench new-method`` and by every built-in plugin (``tests/test_layout.py`` reads their
imports)::

    from bench.api import Method, register_method, Count, Float, Space

- **Methods** subclass ``Method`` (or ``DeepMethod`` for a torch network trained by bench's one
  loop), declare typed hyperparameters in ``__init__`` (``Count``, ``Positive``, ``Range`` ...),
  optional search spaces (``Float``, ``Int``, ``Choice``) and published figures (``Published``),
  and register with ``@register_method`` (a family of names such as ``pyod:<Class>``:
  ``@register_method_family``). Networks, frozen backbones and thresholds they share are below.
- **Datasets** subclass ``DatasetSource`` and return a ``Dataset``; ``@register_dataset`` names one,
  ``@register_dataset_family`` a kind that takes an argument (``npz:FILE``, ``csv:FILE``). Bad files
  raise ``DataError``, whose one line the user sees.
- **Protocols** are functions registered with ``@register_protocol`` over the split helpers
  (``take``, ``join``, ``count_for_ratio`` ...); a setting that cannot work raises ``BenchError``.
"""

from typing import Annotated

from bench.contract.method import Env, MeanKStdThreshold, Method, NotFittedError, flatten, mean_plus_k_std
from bench.contract.params import Count, Fraction, Hyper, NonNegative, Positive, Range, Widths
from bench.contract.published import Published
from bench.contract.space import Choice, Float, Int, Space
from bench.data.dataset import Dataset, DatasetSource, TrainData, labels_present, stratified_split
from bench.data.fetch import download, md5_of, search_dirs
from bench.data.idx import parse_idx, read_bytes
from bench.data.protocol import ProtocolOptions
from bench.data.splits import Share, count_for_ratio, hold_out, join, labeled_pool, rng_for, take
from bench.errors import BenchError, DataError, UnknownNameError
from bench.nets.augment import moco_v2
from bench.nets.backbones import BACKBONES, BackboneName
from bench.nets.features import Extractor, extract, knn_score
from bench.nets.finetune import EvalMode, FineTunedKNN
from bench.nets.layers import check_square, conv_autoencoder, dense, down_size, gaussian_kl, up_padding
from bench.nets.training import Batch, DeepMethod, Plan, in_batches
from bench.registry import (
    ANOMALY_LABELS,
    CLASS_LABELS,
    LABELED_SET,
    register_dataset,
    register_dataset_family,
    register_method,
    register_method_family,
    register_protocol,
)
from bench.scoring.thresholds import max_accuracy_threshold, midpoint_threshold
from bench.variables import cache_dir
from bench.variables import get as env_value

__all__ = [
    "ANOMALY_LABELS",
    "BACKBONES",
    "CLASS_LABELS",
    "LABELED_SET",
    "Annotated",
    "BackboneName",
    "Batch",
    "BenchError",
    "Choice",
    "Count",
    "DataError",
    "Dataset",
    "DatasetSource",
    "DeepMethod",
    "Env",
    "EvalMode",
    "Extractor",
    "FineTunedKNN",
    "Float",
    "Fraction",
    "Hyper",
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
    "Share",
    "Space",
    "TrainData",
    "UnknownNameError",
    "Widths",
    "cache_dir",
    "check_square",
    "conv_autoencoder",
    "count_for_ratio",
    "dense",
    "down_size",
    "download",
    "env_value",
    "extract",
    "flatten",
    "gaussian_kl",
    "hold_out",
    "in_batches",
    "join",
    "knn_score",
    "labeled_pool",
    "labels_present",
    "max_accuracy_threshold",
    "md5_of",
    "mean_plus_k_std",
    "midpoint_threshold",
    "moco_v2",
    "parse_idx",
    "read_bytes",
    "register_dataset",
    "register_dataset_family",
    "register_method",
    "register_method_family",
    "register_protocol",
    "rng_for",
    "search_dirs",
    "stratified_split",
    "take",
    "up_padding",
]
