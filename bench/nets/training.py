"""The one training loop that every torch method shares.

Subclasses build the network and say what one batch's loss and scores are
(hooks in the spirit of PyOD's ``build_model`` / ``training_forward`` /
``evaluating_forward``); the loop owns the device, seeding, batching, early
stopping and progress. Data is moved to the device once and batches are drawn
by indexing tensors already there: no DataLoader, no per-sample Python work.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from bench.contract.method import Env, Method
from bench.data.dataset import TrainData
from bench.nets.kernels import use_fast_kernels

SCORE_BATCH = 4096


@dataclass(frozen=True)
class Plan:
    """How long and in what batches to train; ``patience`` None means no early stopping.

    ``min_steps``: train at least this many optimiser steps, in whole multiples of ``epochs``
    (a report's schedule kept in steps on a dataset smaller than the report's).
    """

    epochs: int
    batch_size: int
    patience: int | None = None
    min_steps: int | None = None

    def epochs_for(self, n: int) -> int:
        return stretched_epochs(self.epochs, -(-n // self.batch_size), self.min_steps)


def stretched_epochs(epochs: int, steps_per_epoch: int, min_steps: int | None) -> int:
    """``epochs``, times the smallest whole factor that reaches ``min_steps`` optimiser steps."""
    if not min_steps or steps_per_epoch < 1:
        return epochs
    return epochs * max(1, -(-min_steps // (epochs * steps_per_epoch)))


@dataclass(frozen=True)
class Batch:
    """Tensors on the method's device; labels only where the method declared it needs them."""

    x: torch.Tensor
    anomaly: torch.Tensor | None = None
    classes: torch.Tensor | None = None
    index: torch.Tensor | None = None  # positions in the training data, for per-sample state

    def take(self, idx: torch.Tensor) -> Batch:
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Batch(self.x[idx], pick(self.anomaly), pick(self.classes), pick(self.index))

    def __len__(self) -> int:
        return len(self.x)


class DeepMethod(Method):
    """A Method trained by minibatch gradient descent.

    Subclasses define the hyperparameters ``epochs`` and ``batch_size`` and,
    for early stopping, ``patience`` (epochs without a better held-out loss;
    ``None`` trains all epochs) and ``holdout``: the fraction of the training
    data (stratified by anomaly label where there is one) kept out of the
    gradient steps to measure that loss. The best epoch's weights are
    restored at the end. Both are declared hyperparameters of the methods
    that early-stop, since they change results.
    """

    epochs: int
    batch_size: int
    patience: int | None = None
    holdout: float
    # bf16 autocast of the training steps under ``--precision bf16`` (``auto`` on CUDA); a method
    # whose results move beyond seed noise in bf16 sets this False and always trains in fp32.
    bf16: ClassVar[bool] = True

    # ---- hooks -------------------------------------------------------------------

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        raise NotImplementedError

    def training_forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The scalar loss of one batch."""
        raise NotImplementedError

    def evaluating_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Anomaly scores ``(n,)`` of a batch of images, higher = more anomalous."""
        raise NotImplementedError

    def encoding_forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        """Encoder features ``(n, d)`` of a batch, for methods with an encoder; None otherwise."""
        return None

    def training_plan(self) -> Plan:
        """Epochs, batch size and patience; by default the hyperparameters of those names."""
        return Plan(self.epochs, self.batch_size, self.patience)

    def autocast(self) -> torch.autocast:
        """bf16 autocast for the training forward passes when this fit runs in bf16; scores stay fp32."""
        return torch.autocast(self.device_.type, dtype=torch.bfloat16, enabled=self.precision_ == "bf16")

    def train_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """One optimisation step; returns the detached loss. Override for several optimisers."""
        with self.autocast():
            loss = self.training_forward(model, batch)
        self.optimizer_.zero_grad(set_to_none=True)
        loss.backward()
        self.before_step(model)
        self.optimizer_.step()
        return loss.detach()

    def before_step(self, model: nn.Module) -> None:
        """Runs between the backward pass and the optimiser's step (e.g. to clip gradients)."""

    def validation_loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.training_forward(model, batch)

    def before_training(self, model: nn.Module, data: Batch) -> None:
        """Runs once before the first epoch (e.g. to fix a centre from an initial forward pass)."""

    def after_epoch(self, model: nn.Module, data: Batch, train: TrainData, epoch: int) -> None:
        """Runs after every epoch's steps (e.g. to refresh per-sample targets, by ``Batch.index``)."""

    def after_fit(self, train: TrainData) -> None:
        """Runs once training ends (e.g. to score the training data for a threshold rule)."""

    def measures(self, model: nn.Module, data: Batch) -> dict[str, float]:
        """Figures to follow over training (e.g. a collapse measure), taken on the fit data before the
        first epoch and after each; they must draw no random numbers. Logged with the loss as curves."""
        return {}

    def _record(self, model: nn.Module, data: Batch, step: int, loss: float | None = None) -> None:
        model.eval()  # measures draw no random numbers (dropout); the next epoch sets train mode again
        figures = ({"loss": loss} if loss is not None else {}) | self.measures(model, data)
        for name, value in figures.items():
            self.curves_.setdefault(name, {})[step] = float(value)

    # ---- the loop ------------------------------------------------------------------

    def _split(
        self, data: Batch, gen: torch.Generator, plan: Plan
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = len(data)
        if plan.patience is None:
            return torch.arange(n), None
        groups = (
            [torch.arange(n)]
            if data.anomaly is None
            else [torch.nonzero(data.anomaly.cpu() == v).ravel() for v in (0, 1)]
        )
        fit, held = [], []
        for members in groups:
            members = members[torch.randperm(len(members), generator=gen)]
            k = round(self.holdout * len(members))
            held.append(members[:k])
            fit.append(members[k:])
        held_idx = torch.cat(held)
        return torch.cat(fit), (held_idx if len(held_idx) else None)

    def fit(self, train: TrainData, env: Env) -> DeepMethod:
        torch.manual_seed(env.seed)
        device = torch.device(env.device)
        as_t = lambda a, dt: None if a is None else torch.as_tensor(np.asarray(a), dtype=dt, device=device)  # noqa: E731
        data = Batch(
            as_t(train.x, torch.float32),
            as_t(train.anomaly, torch.float32),
            as_t(train.classes, torch.long),
            torch.arange(len(train.x), device=device),
        )
        gen = torch.Generator().manual_seed(env.seed)
        plan = self.training_plan()
        fit_idx, held_idx = self._split(data, gen, plan)
        held = data.take(held_idx.to(device)) if held_idx is not None else None
        self.device_ = device
        self.precision_ = "bf16" if env.precision == "bf16" and self.bf16 else "fp32"
        model = self.build_model(tuple(data.x.shape[1:])).to(device)
        self.fast_kernels_ = use_fast_kernels(model) if env.fast_kernels and device.type == "cpu" else 0
        self.optimizer_ = _prefer_foreach(self.make_optimizer(model))
        fit_data = data.take(fit_idx.to(device))
        self.before_training(model, fit_data)
        self.curves_: dict[str, dict[int, float]] = {}
        self._record(model, fit_data, 0)
        best, best_state, stale = float("inf"), None, 0
        self.epochs_run_, self.epochs_planned_ = 0, plan.epochs_for(len(fit_idx))
        for epoch in range(1, self.epochs_planned_ + 1):
            model.train()
            order = fit_idx[torch.randperm(len(fit_idx), generator=gen)].to(device)
            total = torch.zeros((), device=device)
            for start in range(0, len(order), plan.batch_size):
                idx = order[start : start + plan.batch_size]
                total += self.train_step(model, data.take(idx)) * len(idx)
            self.epochs_run_ = epoch
            self.after_epoch(model, data, train, epoch)
            loss = float(total) / max(len(order), 1)
            if held is not None:
                loss = self._held_loss(model, held)
                if loss < best:
                    best, best_state, stale = loss, copy.deepcopy(model.state_dict()), 0
                else:
                    stale += 1
            self._record(model, fit_data, epoch, loss)
            env.report_epoch(epoch, self.epochs_planned_, loss)
            if held is not None and stale >= plan.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        self.model_ = model.eval()
        self.seed_ = env.seed
        self.after_fit(train)
        return self

    @torch.no_grad()
    def _held_loss(self, model: nn.Module, held: Batch) -> float:
        model.eval()
        total = 0.0
        for start in range(0, len(held), SCORE_BATCH):
            idx = torch.arange(start, min(start + SCORE_BATCH, len(held)), device=held.x.device)
            total += float(self.validation_loss(model, held.take(idx))) * len(idx)
        return total / len(held)

    @torch.no_grad()
    def _batched(self, forward: Callable[..., torch.Tensor], x: np.ndarray) -> np.ndarray:
        self._check_fitted("model_")
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device_)
        if not len(xt):
            return np.zeros(0)
        return in_batches(lambda xb: forward(self.model_, xb), xt).double().cpu().numpy()

    def score(self, x: np.ndarray) -> np.ndarray:
        return self._batched(self.evaluating_forward, x)

    def _has_encoder(self) -> bool:
        return type(self).encoding_forward is not DeepMethod.encoding_forward

    def features(self, x: np.ndarray) -> np.ndarray | None:
        return self._batched(self.encoding_forward, x) if self._has_encoder() else None

    def encoder(self) -> nn.Module | None:
        if not self._has_encoder():
            return None
        self._check_fitted("model_")
        return _Encoder(self, copy.deepcopy(self.model_))

    def fit_metrics(self) -> dict[str, float]:
        metrics = {
            "epochs_run": float(getattr(self, "epochs_run_", 0)),
            "bf16": float(getattr(self, "precision_", "fp32") == "bf16"),
        }
        if getattr(self, "fast_kernels_", 0):  # --fast-kernels: how many layers ran on bench's kernel
            metrics["fast_kernels"] = float(self.fast_kernels_)
        return metrics


def in_batches(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, size: int = SCORE_BATCH) -> Any:
    """``fn`` over ``x`` in slices of ``size``, outputs concatenated (each part of a tuple output
    on its own): bounded memory for scoring and encoding many images."""
    parts = [fn(x[i : i + size]) for i in range(0, len(x), size)]
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(column) for column in zip(*parts, strict=True))
    return torch.cat(parts)


def _prefer_foreach(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Multi-tensor updates where the optimizer left the choice to torch (which picks them on CUDA
    only): the same arithmetic, one kernel per step instead of one per parameter tensor."""
    for group in optimizer.param_groups:
        if "foreach" in group and group["foreach"] is None and not group.get("fused"):
            group["foreach"] = True
    return optimizer


class _Encoder(nn.Module):
    """A copy of a fitted model, run through the method's ``encoding_forward``: trainable features."""

    def __init__(self, method: DeepMethod, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.forward_fn = method.encoding_forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_fn(self.model, x)
