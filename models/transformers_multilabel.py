"""The fine-tuned Hugging Face classifier with a sigmoid output per label, for multi-label text projects.

Loading, the schedule, batching, MC dropout, embeddings and the saved directory are
:class:`alloop.models.transformers_clf.TransformerClassifier`'s; the head has one logit per label
(every label, seen or not), the loss is binary cross-entropy with logits (Hugging Face's
``problem_type="multi_label_classification"``), and probabilities are per-label sigmoids.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from alloop.models import _torch
from alloop.models.transformers_clf import TransformerClassifier

__all__ = ["TransformerMultiLabel"]


class TransformerMultiLabel(TransformerClassifier):
    """Fine-tunes ``AutoModelForSequenceClassification`` on label sets; ``predict_proba`` is (n, L) sigmoids."""

    name = "transformer_multilabel"
    multilabel = True

    def fit(self, X: list[str], Y: np.ndarray) -> None:
        """Fine-tune on n texts and an (n, L) 0/1 target matrix."""
        Y = np.asarray(Y, dtype=np.float32)
        if Y.ndim != 2 or Y.shape[1] != self.n_classes:
            raise ValueError(f"multi-label targets must be (n, {self.n_classes}), got shape {Y.shape}")
        self.classes_ = np.arange(self.n_classes)
        self.model = None
        if Y.shape[0] == 0:
            return
        self._load(_torch.model_dir(self.config.path))
        with _torch.seeded(self.config.seed):
            self._train_bce(list(X), torch.from_numpy(Y))
        self.model.eval()

    def _train_bce(self, texts: list[str], target: torch.Tensor) -> None:
        """``epochs`` passes over shuffled minibatches; 10% warmup, then linear decay to zero."""
        cfg, model = self.config, self.model
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = cfg.epochs * math.ceil(len(texts) / cfg.batch_size)
        warmup = max(1, total // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
        )
        generator = torch.Generator().manual_seed(cfg.seed)
        model.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(len(texts), generator=generator).numpy()
            for start in range(0, len(texts), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                logits = model(**self._tokens([texts[i] for i in idx])).logits
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target[idx].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
        model.eval()

    def _proba(self, texts: list[str]) -> np.ndarray:
        """(n, L) float32 sigmoids with the model in its current train/eval mode."""
        out = np.zeros((len(texts), self.n_classes), dtype=np.float32)
        for batch, output in self._batches(texts):
            out[batch] = torch.sigmoid(output.logits.float()).cpu().numpy()
        return out

    def predict_proba(self, X: list[str]) -> np.ndarray:
        """(n, L) float32 per-label probabilities (0.5 before a fit)."""
        if self.model is None:
            return np.full((len(X), self.n_classes), 0.5, dtype=np.float32)
        return self._proba(list(X))

    def sample_proba(self, X: list[str], n_samples: int | None = None) -> Any:
        """(S, n, L) float32 MC dropout passes of the sigmoids."""
        if self.model is None:
            return np.full((n_samples or self.config.n_samples, len(X), self.n_classes), 0.5, dtype=np.float32)
        return super().sample_proba(X, n_samples)
