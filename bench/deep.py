"""The one training loop that every torch method shares.

Subclasses build the network and say what one batch's loss and scores are;
the loop owns the device, seeding, batching and progress. Data is moved to the
device once and batches are drawn by indexing tensors already there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.data import TrainData
from bench.method import Env, Method

SCORE_BATCH = 4096


class DeepMethod(Method):
    """A Method trained by minibatch gradient descent; subclasses fill in the hooks.

    Subclasses define the hyperparameters ``epochs`` and ``batch_size`` in
    their ``__init__``.
    """

    epochs: int
    batch_size: int

    def build_model(self, image_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        raise NotImplementedError

    def training_loss(self, model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score_batch(self, model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_fit(self, train: TrainData) -> None:
        """Runs once training ends (e.g. to score the training data for a threshold rule)."""

    def fit(self, train: TrainData, env: Env) -> DeepMethod:
        torch.manual_seed(env.seed)
        device = torch.device(env.device)
        x = torch.as_tensor(train.x, dtype=torch.float32, device=device)
        model = self.build_model(tuple(x.shape[1:])).to(device)
        optimizer = self.make_optimizer(model)
        order = torch.Generator().manual_seed(env.seed)
        n = len(x)
        for epoch in range(1, self.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=order).to(device)
            total = torch.zeros((), device=device)
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                loss = self.training_loss(model, x[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            env.report_epoch(epoch, self.epochs, float(total) / n)
        self.model_ = model.eval()
        self.device_ = device
        self.after_fit(train)
        return self

    @torch.no_grad()
    def score(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted("model_")
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device_)
        out = [self.score_batch(self.model_, xt[i : i + SCORE_BATCH]) for i in range(0, len(xt), SCORE_BATCH)]
        return torch.cat(out).double().cpu().numpy() if out else np.zeros(0)
