"""A small convolutional network trained from scratch on an image project's pixels (CPU, seeded).

It reads the rows an image project stores (float32 pixels in [0, 1], channel first, see
:mod:`alloop.pixels`), reshaped to ``config.input_shape``: nothing is downloaded, no pretrained
weights. A conv block per ``config.channels`` (3x3 convolution, ReLU, 2x2 max pool), an adaptive
average pool to 4x4, a dense layer with dropout, and the class logits. Initialization, minibatch
order and dropout masks all come from the seed, so a fit on the CPU is repeatable;
``sample_proba`` draws MC dropout passes (BALD and the other Bayesian strategies run on it) and
``embed`` gives the dense layer (for diversity strategies that ask a model).
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
from alloop.models.configs import CNNConfig

__all__ = ["SmallCNN"]

_CHUNK = 1024  # images scored per forward pass
_FORMAT = "alloop.cnn/1"


class _Net(nn.Module):
    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], hidden: int, n_out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in, side = shape[0], min(shape[1:])
        for width in channels:
            layers += [nn.Conv2d(fan_in, width, 3, padding=1), nn.ReLU()]
            if side >= 2:  # no pooling below one pixel
                layers.append(nn.MaxPool2d(2))
                side //= 2
            fan_in = width
        layers.append(nn.AdaptiveAvgPool2d(4))
        self.features = nn.Sequential(*layers)
        self.dense = nn.Linear(fan_in * 16, hidden)
        self.out = nn.Linear(hidden, n_out)

    def hidden(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """(n, C, H, W) -> (n, hidden); dropout at rate ``p`` while the module is in training mode."""
        h = torch.relu(self.dense(torch.flatten(self.features(x), 1)))
        return nn.functional.dropout(h, p, training=self.training)

    def forward(self, x: torch.Tensor, p: float = 0.0) -> torch.Tensor:
        return self.out(self.hidden(x, p))


class SmallCNN:
    """A small CNN over an image project's stored pixels.

    Parameters
    ----------
    n_classes : int
        Size of the project's label set; ``predict_proba`` always returns that many columns.
    config : CNNConfig
        Conv widths, dense width, dropout, optimizer, early stopping, seed, input shape.
    """

    input_kind = "image"
    name = "cnn"

    def __init__(self, n_classes: int, config: CNNConfig | None = None) -> None:
        self.n_classes = n_classes
        self.config = config or CNNConfig()
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.shape_: tuple[int, int, int] | None = self.config.input_shape
        self.mean_ = np.zeros(1, dtype=np.float32)
        self.std_ = np.ones(1, dtype=np.float32)
        self.net: _Net | None = None
        self.epochs_ = 0
        _torch.torch()  # caps threads once per process

    def _images(self, X: np.ndarray) -> torch.Tensor:
        """(n, C*H*W) rows -> (n, C, H, W) standardized per channel (a writable copy torch can share)."""
        X = np.asarray(X, dtype=np.float32)
        shape = self.shape_ or _square(X.shape[1])
        if X.shape[1] != math.prod(shape):
            raise ValueError(f"cnn: rows of {X.shape[1]} values do not make {shape[0]}x{shape[1]}x{shape[2]} images")
        images = X.reshape(-1, *shape)
        return torch.from_numpy(((images - self.mean_[:, None, None]) / self.std_[:, None, None]).astype(np.float32))

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Train on (n, C*H*W) pixel rows and (n,) integer labels in ``0..n_classes-1``."""
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        self.net, self.epochs_ = None, 0
        self.classes_ = np.unique(y)
        if y.size == 0:
            return
        self.shape_ = self.config.input_shape or _square(X.shape[1])
        per_channel = X.reshape(X.shape[0], self.shape_[0], -1)
        self.mean_ = per_channel.mean(axis=(0, 2)).astype(np.float32)
        self.std_ = np.maximum(per_channel.std(axis=(0, 2)), 1e-3).astype(np.float32)
        cfg = self.config
        with _torch.seeded(cfg.seed):  # conv and dense initialization draw from the global generator
            self.net = _Net(self.shape_, cfg.channels, cfg.hidden, self.classes_.size)
            if self.classes_.size >= 2:  # one class seen: nothing to learn, predict it
                target = torch.from_numpy(np.searchsorted(self.classes_, y))
                self._train(self._images(X), target, torch.Generator().manual_seed(cfg.seed))
        self.net.eval()

    def _train(self, X: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        """Adam on shuffled minibatches until the training loss stalls (or the epoch / step cap)."""
        cfg, net, n = self.config, self.net, X.shape[0]

        def step(order: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, float]:
            idx = order[start:stop]
            loss = nn.functional.cross_entropy(net(X[idx], cfg.dropout), y[idx])
            return loss, float(loss.detach()) * idx.numel()

        _torch.train_until_stalled(self, n, lambda: torch.randperm(n, generator=generator), step)

    def _passes(self, X: np.ndarray, passes: int, dropout: bool) -> np.ndarray:
        """(passes, n, n_classes) float32 probabilities; with ``dropout``, one MC dropout mask set per pass."""
        n = np.asarray(X).shape[0]
        out = np.zeros((passes, n, self.n_classes), dtype=np.float32)
        if self.net is None:
            out[:] = 1.0 / self.n_classes
            return out
        self.net.train(dropout)
        try:
            with torch.inference_mode(), _torch.seeded(self.config.seed + 1):
                for start in range(0, n, _CHUNK):
                    x = self._images(X[start : start + _CHUNK])
                    for k in range(passes):
                        probs = torch.softmax(self.net(x, self.config.dropout), dim=-1).numpy()
                        out[k, start : start + _CHUNK][:, self.classes_] = probs
        finally:
            self.net.eval()
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_classes) float32; zero columns for classes never seen."""
        return self._passes(X, 1, dropout=False)[0]

    def sample_proba(self, X: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        """(S, n, n_classes) float32 MC dropout passes (``S = n_samples``, default ``config.n_samples``),
        repeatable: the masks come from the seed."""
        passes = n_samples or self.config.n_samples
        if self.config.dropout == 0:
            return np.repeat(self.predict_proba(X)[None], passes, axis=0)
        return self._passes(X, passes, dropout=True)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """(n, hidden) float32 dense-layer activations, dropout off."""
        if self.net is None:
            raise RuntimeError("cnn: fit the model before embedding")
        parts = []
        with torch.inference_mode():
            for start in range(0, np.asarray(X).shape[0], _CHUNK):
                parts.append(self.net.hidden(self._images(X[start : start + _CHUNK]), 0.0).numpy())
        return np.concatenate(parts) if parts else np.empty((0, self.config.hidden), dtype=np.float32)

    def save(self, path: Path) -> None:
        """One file: the config, the label mapping, the per-channel scaler and the weights."""
        torch.save({
            "format": _FORMAT, "n_classes": self.n_classes, "config": dataclasses.asdict(self.config),
            "classes": self.classes_.tolist(), "epochs": self.epochs_,
            "shape": None if self.shape_ is None else list(self.shape_),
            "mean": torch.from_numpy(self.mean_), "std": torch.from_numpy(self.std_),
            "state": None if self.net is None else self.net.state_dict(),
        }, Path(path))

    @staticmethod
    def load(path: Path) -> SmallCNN:
        """Read a model written by :meth:`save` (tensors and plain values only: no code runs)."""
        blob: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True)
        if blob.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved cnn model")
        config = dict(blob["config"])
        for key in ("channels", "input_shape"):
            if config.get(key) is not None:
                config[key] = tuple(config[key])
        model = SmallCNN(blob["n_classes"], CNNConfig(**config))
        model.classes_ = np.asarray(blob["classes"], dtype=np.int64)
        model.epochs_ = blob["epochs"]
        model.shape_ = None if blob["shape"] is None else tuple(blob["shape"])
        model.mean_, model.std_ = blob["mean"].numpy(), blob["std"].numpy()
        if blob["state"] is not None:
            model.net = _Net(model.shape_, model.config.channels, model.config.hidden, model.classes_.size)
            model.net.load_state_dict(blob["state"])
            model.net.eval()
        return model


def _square(values: int) -> tuple[int, int, int]:
    """(1, s, s) for rows of ``s * s`` values: a gray square image (an MNIST row of 784 is 28x28)."""
    side = math.isqrt(values)
    if side * side != values:
        raise ValueError(f"cnn: rows of {values} values are not square gray images; give the project an 'image' "
                         "setting (image projects set the shape themselves)")
    return (1, side, side)
