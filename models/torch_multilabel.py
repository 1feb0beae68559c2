"""The torch MLP heads with a sigmoid output per label, for multi-label projects.

The network, its seeded training loop and MC dropout are :mod:`alloop.models.torch_mlp`'s; the output
layer has one logit per label (every label, seen or not), the loss is binary cross-entropy with logits,
and probabilities are per-label sigmoids, so rows do not sum to 1.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alloop.models import _torch
from alloop.models.configs import MLPConfig
from alloop.models.torch_mlp import _CHUNK, TorchMLP, _StackedMLP

__all__ = ["TorchMultiLabelMLP"]

_FORMAT = "alloop.torch_multilabel/1"


class TorchMultiLabelMLP(TorchMLP):
    """An MLP (``config.members`` of them: a deep ensemble) with L sigmoid outputs."""

    name = "torch_mlp_multilabel"
    multilabel = True

    def fit(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Train on (n, d) vectors and an (n, L) 0/1 target matrix."""
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        if Y.ndim != 2 or Y.shape[1] != self.n_classes:
            raise ValueError(f"multi-label targets must be (n, {self.n_classes}), got shape {Y.shape}")
        self.net, self.epochs_ = None, 0
        self.classes_ = np.arange(self.n_classes)
        if Y.shape[0] == 0:
            return
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        generator = torch.Generator().manual_seed(self.config.seed)
        self.net = _StackedMLP([X.shape[1], *self.config.hidden, self.n_classes], self.config.members, generator)
        with _torch.single_thread():
            self._train_bce(torch.from_numpy(self._standardize(X)), torch.from_numpy(Y), generator)
        self.net.eval()

    def _train_bce(self, X: torch.Tensor, Y: torch.Tensor, generator: torch.Generator) -> None:
        """Adam on minibatches, one shuffled order per member, until the training loss stalls."""
        cfg, net, n = self.config, self.net, X.shape[0]

        def step(order: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, float]:
            idx = order[:, start:stop]  # (M, b)
            logits = net(X[idx], cfg.dropout, generator)  # (M, b, L)
            per_row = nn.functional.binary_cross_entropy_with_logits(logits, Y[idx], reduction="none").mean(dim=2)
            # each member's own mean: independent updates
            return per_row.mean(dim=1).sum(), float(per_row.detach().sum()) / cfg.members

        _torch.train_until_stalled(
            self, n, lambda: torch.argsort(torch.rand(cfg.members, n, generator=generator), dim=1), step)

    def _member_proba(self, X: np.ndarray, p: float = 0.0, passes: int = 1, seed: int | None = None) -> np.ndarray:
        """(B, n, L) float32 per-label sigmoids of each member (or MC dropout pass); 0.5 before a fit."""
        n = np.asarray(X).shape[0]
        shape = (passes if p > 0 else self.config.members, n, self.n_classes)
        if self.net is None:
            return np.full(shape, 0.5, dtype=np.float32)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out = np.zeros(shape, dtype=np.float32)
        rows = max(1, _CHUNK // max(1, out.shape[0]))
        with torch.inference_mode(), _torch.single_thread():
            for start in range(0, n, rows):
                x = torch.from_numpy(self._standardize(X[start : start + rows])).unsqueeze(0)
                if p > 0:
                    x = x.expand(passes, -1, -1)
                out[:, start : start + rows] = torch.sigmoid(self.net(x, p, generator)).numpy()
        return out

    def save(self, path: Path) -> None:
        """Write one file: the config, the scaler and the weights."""
        torch.save({
            "format": _FORMAT, "n_classes": self.n_classes, "config": dataclasses.asdict(self.config),
            "epochs": self.epochs_, "dims": self._dims(),
            "mean": None if self.mean_ is None else torch.from_numpy(self.mean_),
            "std": None if self.std_ is None else torch.from_numpy(self.std_),
            "state": None if self.net is None else self.net.state_dict(),
        }, Path(path))

    @staticmethod
    def load(path: Path) -> TorchMultiLabelMLP:
        """Read a model written by :meth:`save` (tensors and plain values only: no code runs)."""
        blob: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True)
        if blob.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved multi-label torch model")
        config = blob["config"]
        config = MLPConfig(**{**config, "hidden": tuple(config["hidden"])})
        model = TorchMultiLabelMLP(blob["n_classes"], config)
        model.classes_ = np.arange(model.n_classes)
        model.epochs_ = blob["epochs"]
        if blob["mean"] is not None:
            model.mean_, model.std_ = blob["mean"].numpy(), blob["std"].numpy()
        if blob["state"] is not None:
            model.net = _StackedMLP(blob["dims"], config.members, torch.Generator().manual_seed(0))
            model.net.load_state_dict(blob["state"])
            model.net.eval()
        return model
