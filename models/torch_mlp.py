"""PyTorch MLP heads over vectors: one MLP with MC dropout, or a deep ensemble.

Both train every member at once: the weights of ``M`` members are stacked, so one matrix
product per layer runs the whole ensemble (a deep ensemble of 5 costs little more than one
MLP on small data). Each member has its own initialization, minibatch order and dropout
masks, all drawn from one seeded ``torch.Generator``, so a seed makes training and MC
dropout samples repeatable. Training and scoring run on the CPU; the heads are small.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alloop.models import _torch
from alloop.models.configs import MLPConfig

__all__ = ["TorchMLP", "TorchEnsemble"]

_CHUNK = 4096  # rows scored per forward pass
_FORMAT = "alloop.torch_mlp/1"


class _StackedMLP(nn.Module):
    """``members`` MLPs with weights stacked as (M, fan_in, fan_out); ReLU, dropout after hidden layers."""

    def __init__(self, dims: list[int], members: int, generator: torch.Generator) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default initialization
            for shape, params in (((fan_in, fan_out), self.weights), ((1, fan_out), self.biases)):
                uniform = torch.rand(members, *shape, generator=generator) * 2 - 1
                params.append(nn.Parameter(uniform * bound))

    def hidden(self, x: torch.Tensor, p: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, n, d) inputs (B = M, or 1 broadcast to every member) -> (max(B, M), n, h) last hidden layer."""
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = torch.relu(torch.matmul(x, w) + b)
            if p > 0 and generator is not None:
                keep = torch.rand(x.shape, generator=generator) >= p
                x = x * keep / (1.0 - p)
        return x

    def forward(self, x: torch.Tensor, p: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, n, d) -> (max(B, M), n, k) logits; dropout only when a generator is given."""
        return torch.matmul(self.hidden(x, p, generator), self.weights[-1]) + self.biases[-1]


class TorchMLP:
    """An MLP head over standardized vectors; ``sample_proba`` draws MC dropout passes.

    Parameters
    ----------
    n_classes : int
        Size of the project's label set; ``predict_proba`` always returns that many columns.
    config : MLPConfig
        Layer widths, dropout, optimizer, early stopping, seed (see :mod:`alloop.models.configs`).
    """

    input_kind = "vector"
    name = "torch_mlp"

    def __init__(self, n_classes: int, config: MLPConfig | None = None) -> None:
        self.n_classes = n_classes
        self.config = config or MLPConfig()
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.net: _StackedMLP | None = None
        self.epochs_ = 0
        _torch.torch()  # caps threads once per process

    # -- training ---------------------------------------------------------------------------

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Train on (n, d) vectors and (n,) integer labels in ``0..n_classes-1``."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        self.net, self.epochs_ = None, 0
        self.classes_ = np.unique(y)
        if y.size == 0:
            return
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        generator = torch.Generator().manual_seed(self.config.seed)
        dims = [X.shape[1], *self.config.hidden, self.classes_.size]
        self.net = _StackedMLP(dims, self.config.members, generator)
        if self.classes_.size >= 2:  # one class seen: nothing to learn, predict it
            target = torch.from_numpy(np.searchsorted(self.classes_, y))
            with _torch.single_thread():
                self._train(torch.from_numpy(self._standardize(X)), target, generator)
        self.net.eval()

    def _train(self, X: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        """Adam on minibatches, one shuffled order per member, until the training loss stalls."""
        cfg, net, n = self.config, self.net, X.shape[0]

        def step(order: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, float]:
            idx = order[:, start:stop]  # (M, b)
            logits = net(X[idx], cfg.dropout, generator)  # (M, b, k)
            per_row = nn.functional.cross_entropy(logits.transpose(1, 2), y[idx], reduction="none")
            # each member's own mean: independent updates
            return per_row.mean(dim=1).sum(), float(per_row.detach().sum()) / cfg.members

        _torch.train_until_stalled(
            self, n, lambda: torch.argsort(torch.rand(cfg.members, n, generator=generator), dim=1), step)

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        """(n, d) float32 standardized copy (always writable, so torch can share it)."""
        return ((np.asarray(X, dtype=np.float32) - self.mean_) / self.std_).astype(np.float32, copy=False)

    # -- inference --------------------------------------------------------------------------

    def _member_proba(self, X: np.ndarray, p: float = 0.0, passes: int = 1, seed: int | None = None) -> np.ndarray:
        """(B, n, n_classes) float32: each member's (or each dropout pass's) probabilities.

        ``B`` is the number of members, or ``passes`` MC dropout passes when ``p > 0``.
        """
        n = np.asarray(X).shape[0]
        shape = (passes if p > 0 else self.config.members, n, self.n_classes)
        if self.net is None:
            return np.full(shape, 1.0 / self.n_classes, dtype=np.float32)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out = np.zeros(shape, dtype=np.float32)
        rows = max(1, _CHUNK // max(1, out.shape[0]))
        with torch.inference_mode(), _torch.single_thread():
            for start in range(0, n, rows):
                x = torch.from_numpy(self._standardize(X[start : start + rows])).unsqueeze(0)
                if p > 0:
                    x = x.expand(passes, -1, -1)
                probs = torch.softmax(self.net(x, p, generator), dim=-1).numpy()
                out[:, start : start + rows][:, :, self.classes_] = probs
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) float32, the members' mean; zero columns for classes never seen."""
        return self._member_proba(X).mean(axis=0)

    def sample_proba(self, X: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        """(S, n, n_classes) float32 MC dropout passes (``S = n_samples``, default ``config.n_samples``).

        Repeatable: the dropout masks come from a generator seeded with ``config.seed``.
        """
        passes = n_samples or self.config.n_samples
        if self.config.dropout == 0:
            return np.repeat(self.predict_proba(X)[None], passes, axis=0)
        return self._member_proba(X, self.config.dropout, passes, seed=self.config.seed + 1)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """(n, h) float32 last hidden layer (of the first member), dropout off."""
        if self.net is None:
            raise RuntimeError(f"{self.name}: fit the model before embedding")
        out = np.empty((np.asarray(X).shape[0], self.config.hidden[-1]), dtype=np.float32)
        with torch.inference_mode(), _torch.single_thread():
            for start in range(0, out.shape[0], _CHUNK):
                x = torch.from_numpy(self._standardize(X[start : start + _CHUNK])).unsqueeze(0)
                out[start : start + _CHUNK] = self.net.hidden(x)[0].numpy()
        return out

    # -- persistence ------------------------------------------------------------------------

    def _dims(self) -> list[int] | None:
        """Layer widths, input to output, of the fitted network."""
        if self.net is None:
            return None
        return [int(w.shape[1]) for w in self.net.weights] + [int(self.net.weights[-1].shape[2])]

    def save(self, path: Path) -> None:
        """Write one file: the config, the label mapping, the scaler and the weights."""
        torch.save({
            "format": _FORMAT, "kind": self.name, "n_classes": self.n_classes,
            "config": dataclasses.asdict(self.config), "classes": self.classes_.tolist(),
            "epochs": self.epochs_, "dims": self._dims(),
            "mean": None if self.mean_ is None else torch.from_numpy(self.mean_),
            "std": None if self.std_ is None else torch.from_numpy(self.std_),
            "state": None if self.net is None else self.net.state_dict(),
        }, Path(path))

    @staticmethod
    def load(path: Path) -> TorchMLP:
        """Read a model written by :meth:`save` (tensors and plain values only: no code runs)."""
        blob: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True)
        if blob.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved torch_mlp/torch_ensemble model")
        config = blob["config"]
        config = MLPConfig(**{**config, "hidden": tuple(config["hidden"])})
        model = (TorchEnsemble if blob["kind"] == TorchEnsemble.name else TorchMLP)(blob["n_classes"], config)
        model.classes_ = np.asarray(blob["classes"], dtype=np.int64)
        model.epochs_ = blob["epochs"]
        if blob["mean"] is not None:
            model.mean_, model.std_ = blob["mean"].numpy(), blob["std"].numpy()
        if blob["state"] is not None:
            model.net = _StackedMLP(blob["dims"], config.members, torch.Generator().manual_seed(0))
            model.net.load_state_dict(blob["state"])
            model.net.eval()
        return model


class TorchEnsemble(TorchMLP):
    """A deep ensemble of ``config.members`` independently seeded MLPs.

    ``predict_proba`` is the members' mean; ``sample_proba`` returns the members themselves.
    """

    name = "torch_ensemble"

    def sample_proba(self, X: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        """(M, n, n_classes) float32, one slice per member (the first ``n_samples`` when fewer)."""
        members = self._member_proba(X)
        return members[:n_samples] if n_samples else members
