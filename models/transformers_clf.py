"""A Hugging Face sequence classifier fine-tuned on the labeled texts (``input_kind = "text"``).

Every ``fit`` starts again from the local base model (``config.path``, by default the bundled
all-MiniLM-L6-v2) with a fresh classification head of ``n_classes`` outputs; classes never
labeled are masked out of the softmax, so their column is exactly zero. Runs on CUDA when
torch sees a GPU, else on the CPU. Weights are only ever read from local files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alloop.models import _torch
from alloop.models.base import MissingDependency
from alloop.models.configs import TransformerConfig

__all__ = ["TransformerClassifier"]

_FORMAT = "alloop.transformer/1"
_META = "alloop.json"
_INFER_BATCH = 64


class TransformerClassifier:
    """Fine-tunes ``AutoModelForSequenceClassification`` with AdamW and a linear schedule.

    Parameters
    ----------
    n_classes : int
        Size of the project's label set.
    config : TransformerConfig
        Base model path, epochs, learning rate, batch size, max tokens, seed.
    """

    input_kind = "text"
    name = "transformer"

    def __init__(self, n_classes: int, config: TransformerConfig | None = None) -> None:
        self.n_classes = n_classes
        self.config = config or TransformerConfig()
        self.classes_: np.ndarray = np.empty(0, dtype=np.int64)
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = _torch.device()
        self.max_length = self.config.max_length

    # -- loading and training ---------------------------------------------------------------

    def _load(self, path: Path) -> None:
        """Tokenizer and classifier from a local directory (a new head when the base has none)."""
        hf = _torch.transformers()
        try:
            with _torch.quiet_loading(), _torch.seeded(self.config.seed):
                self.tokenizer = hf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                self.model = hf.AutoModelForSequenceClassification.from_pretrained(
                    str(path), num_labels=self.n_classes, local_files_only=True, ignore_mismatched_sizes=True
                )
        except (OSError, ValueError) as exc:
            raise MissingDependency(f"cannot load a model from {str(path)!r}: {exc}") from None
        self.model.to(self.device).eval()
        self.max_length = min(self.config.max_length, _torch.token_limit(self.tokenizer, self.model))

    def fit(self, X: list[str], y: np.ndarray) -> None:
        """Fine-tune on n texts and their (n,) integer labels in ``0..n_classes-1``."""
        y = np.asarray(y, dtype=np.int64)
        self.classes_ = np.unique(y)
        self.model = None
        if y.size == 0:
            return
        self._load(_torch.model_dir(self.config.path))
        if self.classes_.size >= 2:  # one class seen: nothing to learn, predict it
            with _torch.seeded(self.config.seed):
                self._train(list(X), torch.from_numpy(np.searchsorted(self.classes_, y)))
        self.model.eval()

    def _tokens(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)

    def _train(self, texts: list[str], target: torch.Tensor) -> None:
        """``epochs`` passes over shuffled minibatches; 10% warmup, then linear decay to zero."""
        cfg, model = self.config, self.model
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        per_epoch = math.ceil(len(texts) / cfg.batch_size)
        total = cfg.epochs * per_epoch
        warmup = max(1, total // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
        )
        seen = torch.from_numpy(self.classes_).to(self.device)
        generator = torch.Generator().manual_seed(cfg.seed)
        model.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(texts), generator=generator).numpy()
            for start in range(0, len(texts), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                logits = model(**self._tokens([texts[i] for i in idx])).logits[:, seen]
                loss = torch.nn.functional.cross_entropy(logits, target[idx].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        model.eval()

    # -- inference --------------------------------------------------------------------------

    def _batches(self, texts: list[str], **kwargs: Any) -> Iterator[tuple[np.ndarray, Any]]:
        """(positions, model output) per length-sorted batch, under inference mode."""
        with torch.inference_mode():
            for batch in _torch.length_batches([len(t) for t in texts], _INFER_BATCH):
                yield batch, self.model(**self._tokens([texts[i] for i in batch]), **kwargs)

    def _proba(self, texts: list[str]) -> np.ndarray:
        """(n, n_classes) float32 with the model in its current train/eval mode."""
        out = np.zeros((len(texts), self.n_classes), dtype=np.float32)
        seen = torch.from_numpy(self.classes_).to(self.device)
        for batch, output in self._batches(texts):
            probs = torch.softmax(output.logits[:, seen].float(), dim=-1).cpu().numpy()
            out[np.ix_(batch, self.classes_)] = probs
        return out

    def predict_proba(self, X: list[str]) -> np.ndarray:
        """(n, n_classes) float32 probabilities; zero columns for classes never labeled."""
        if self.model is None:
            return np.full((len(X), self.n_classes), 1.0 / self.n_classes, dtype=np.float32)
        return self._proba(list(X))

    def sample_proba(self, X: list[str], n_samples: int | None = None) -> np.ndarray:
        """(S, n, n_classes) float32 MC dropout passes (dropout on at inference), repeatable by seed."""
        passes = n_samples or self.config.n_samples
        if self.model is None:
            return np.full((passes, len(X), self.n_classes), 1.0 / self.n_classes, dtype=np.float32)
        self.model.train()
        try:
            with _torch.seeded(self.config.seed + 1):
                return np.stack([self._proba(list(X)) for _ in range(passes)])
        finally:
            self.model.eval()

    def embed(self, X: list[str]) -> np.ndarray:
        """(n, hidden) float32: the last layer's hidden state of the first ([CLS]) token."""
        if self.model is None:
            raise RuntimeError("transformer: fit the model before embedding")
        out = np.empty((len(X), int(self.model.config.hidden_size)), dtype=np.float32)
        for batch, output in self._batches(list(X), output_hidden_states=True):
            out[batch] = output.hidden_states[-1][:, 0].float().cpu().numpy()
        return out

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write a directory: the Hugging Face model and tokenizer, plus ``alloop.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save_pretrained(str(path))
            self.tokenizer.save_pretrained(str(path))
        meta = {"format": _FORMAT, "n_classes": self.n_classes, "classes": self.classes_.tolist(),
                "config": dataclasses.asdict(self.config), "fitted": self.model is not None}
        (path / _META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path) -> TransformerClassifier:
        """Read a directory written by :meth:`save` onto this machine's device."""
        path = Path(path)
        meta = json.loads((path / _META).read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved transformer model")
        model = cls(meta["n_classes"], TransformerConfig(**meta["config"]))
        model.classes_ = np.asarray(meta["classes"], dtype=np.int64)
        if meta["fitted"]:
            model._load(path)
        return model
