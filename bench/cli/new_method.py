"""``python -m bench new-method NAME [--torch]``: a ready plugin file that passes ``bench check``.

The templates are working methods (a numpy baseline, a torch autoencoder on ``DeepMethod``) with
every part of the contract a reader needs to see once: typed hyperparameters, ``search_space``,
``fast_params``, an own threshold, and docstring sections for the paper and the choices it leaves
open.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from bench.errors import BenchError
from bench.plugins import load_plugins
from bench.registry import METHODS

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

DOCSTRING = '''"""$name: a bench method plugin (written by `python -m bench new-method`).

What it does: $what

Replace it with your method and keep the contract: hyperparameters are keyword
arguments that ``__init__`` stores as given; ``fit`` learns (state ending in
``_``) and returns self; ``score`` gives one float per image, higher = more
anomalous.

Paper: the source this method follows (authors, title, year, link) and what is
taken from it: architecture, loss, optimiser, epochs, score, threshold rule.

Choices the paper leaves open: each choice made here where the paper is silent,
and why.

Check it: python -m bench check $file
Run it:   python -m bench --plugin $file run --methods $name --classes 0,1
"""
'''

NUMPY = '''
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
$gap
from bench.api import (
    Env,
    Float,
    Method,
    NonNegative,
    Positive,
    Space,
    TrainData,
    register_method,
)


@register_method("$name", family="custom")
class $cls(Method):
    """Distance to the mean training image; anomalous above the own threshold."""

    # what `python -m bench tune --method $name` may search (declared ranges)
    search_space: ClassVar[Space] = {"power": Float(0.5, 4.0, log=True)}
    # the settings `python -m bench check` fits with (seconds on a CPU)
    fast_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, power: Positive = 2.0, k_std: NonNegative = 3.0) -> None:
        self.power = power
        self.k_std = k_std

    def fit(self, train: TrainData, env: Env) -> $cls:
        self.mean_ = train.x.mean(axis=0)
        train_scores = self.score(train.x)
        self.threshold_ = float(train_scores.mean() + self.k_std * train_scores.std())
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("mean_")
        return (np.abs(x - self.mean_) ** self.power).reshape(len(x), -1).mean(axis=1)

    def threshold(self) -> float:
        self._check_fitted("threshold_")
        return self.threshold_
'''

TORCH = '''
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
$torch_nn
from bench.api import (
    Batch,
    Count,
    DeepMethod,
    Float,
    Int,
    NonNegative,
    Positive,
    Space,
    TrainData,
    register_method,
)$torch_nn_after


@register_method("$name", family="autoencoder")
class $cls(DeepMethod):
    """A dense autoencoder scored by reconstruction error, with an own threshold.

    bench's training loop (``bench.nets.training``) owns the device, seeding, batching and
    progress; the hooks below say what the network, the loss and the score are.
    """

    # what `python -m bench tune --method $name` may search (declared ranges)
    search_space: ClassVar[Space] = {
        "code": Int(4, 64, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
    }
    # the settings `python -m bench check` fits with (seconds on a CPU)
    fast_params: ClassVar[dict[str, Any]] = {"epochs": 3}

    def __init__(
        self,
        *,
        hidden: Count = 128,
        code: Count = 16,
        epochs: Count = 20,
        batch_size: Count = 64,
        lr: Positive = 1e-3,
        k_std: NonNegative = 3.0,
    ) -> None:
        self.hidden = hidden
        self.code = code
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.k_std = k_std

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        d = math.prod(image_shape)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(d, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.code),
            nn.ReLU(),
            nn.Linear(self.code, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, d),
            nn.Sigmoid(),
        )

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=self.lr)

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return nn.functional.mse_loss(model(batch.x), batch.x.flatten(1))

    def evaluating_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return ((model(x) - x.flatten(1)) ** 2).mean(dim=1)

    def after_fit(self, train: TrainData) -> None:
        errors = self.score(train.x)
        self.threshold_ = float(errors.mean() + self.k_std * errors.std())

    def threshold(self) -> float:
        self._check_fitted("threshold_")
        return self.threshold_
'''

WHAT = {
    False: "the mean absolute difference to the training images' mean image,\n"
    "raised to ``power``; anomalous above mean + ``k_std`` std of the training\n"
    "images' scores.",
    True: "a dense autoencoder (``hidden``-``code``-``hidden``) trained with Adam\n"
    "on the mean squared error; score = reconstruction error; anomalous above\n"
    "mean + ``k_std`` std of the training images' errors.",
}


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def plugin_source(name: str, *, torch: bool, file: str, first_party: bool = False) -> str:
    """The plugin file's text for method ``name``. Its imports are sorted as ruff sorts them where
    it is written: ``bench`` is first-party inside bench's own source tree, third-party elsewhere."""
    words = {"name": name, "cls": class_name(name), "file": file, "what": WHAT[torch]}
    words["gap"] = "" if first_party else "\b"
    words["torch_nn"] = "from torch import nn\n" if first_party else "\b"
    words["torch_nn_after"] = "" if first_party else "\nfrom torch import nn"
    text = Template(DOCSTRING + (TORCH if torch else NUMPY)).substitute(words)
    return text.replace("\b\n", "")


def in_bench_source(path: Path) -> bool:
    """Whether ``path`` lies in a checkout of bench itself (where ruff calls ``bench`` first-party)."""
    return any((d / "bench" / "api.py").is_file() for d in path.resolve().parents)


def new_method(name: str, *, torch: bool = False, out: str | None = None) -> str:
    """Write the plugin file for ``name``; returns what to run next and how to ship it."""
    if not NAME.fullmatch(name):
        raise BenchError(f"method name {name!r}: lowercase letters, digits and single hyphens (my-method)")
    load_plugins()
    if name in METHODS:
        raise BenchError(f"method {name!r} already exists (see `python -m bench list`): choose another name")
    module = name.replace("-", "_")
    path = Path(out or f"{module}.py")
    if path.suffix != ".py":
        raise BenchError(f"--out {path}: a plugin file ends in .py")
    if path.exists():
        raise BenchError(f"{path} exists: bench never overwrites it; choose another name or --out")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        source = plugin_source(name, torch=torch, file=str(path), first_party=in_bench_source(path))
        path.write_text(source)
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None
    kind = "a torch DeepMethod" if torch else "a numpy method (--torch writes a torch DeepMethod)"
    return "\n".join(
        [
            f"wrote {path}: {kind}",
            f"check it:  python -m bench check {path}",
            f"run it:    python -m bench --plugin {path} run --methods {name} --classes 0,1",
            "",
            f"to ship it in a package (my_package/{module}.py), add to its pyproject.toml:",
            "",
            '[project.entry-points."bench.methods"]',
            f'{name} = "my_package.{module}"',
        ]
    )
