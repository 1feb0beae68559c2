"""A BIO token tagger fine-tuned from a local transformer (default: the bundled all-MiniLM-L6-v2).

Every ``fit`` starts again from the base model with a fresh linear head over the tags (``O`` and
``B-``/``I-`` of each entity type; no CRF), fine-tunes the top ``train_layers`` encoder layers and the
head with AdamW, and learns on the first sub-word token of each word (:mod:`alloop.models.bio` aligns
character spans with tokens through the tokenizer's offset mapping). Seeded: the same texts, spans and
seed give the same model on the CPU. Weights are only ever read from local files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from alloop.models import _torch
from alloop.models.base import MissingDependency
from alloop.models.bio import Units, decode_tags, encode_tags, tag_names, units
from alloop.models.tagger_config import TaggerConfig

__all__ = ["TokenTagger", "UnitProbs"]

_FORMAT = "alloop.token_tagger/1"
_META = "alloop.json"
_HEAD = "head.pt"
_INFER_BATCH = 64
_CACHE_TEXTS = 50_000
_features: dict[tuple[str, int], dict[str, tuple[Units, np.ndarray]]] = {}
_features_lock = threading.Lock()
"""Frozen-encoder features by (model directory, max_length), then by text: the units and their last-layer
vectors. With ``train_layers = 0`` the encoder never changes, so each text is encoded once per process."""


@dataclasses.dataclass
class UnitProbs:
    """Tag probabilities of every unit of n texts, flat: text ``i`` owns rows ``offsets[i]:offsets[i+1]``.

    Attributes
    ----------
    probs : (N, T) float32, N units in all, T tags
    offsets : (n + 1,) int64
    units : the n texts' :class:`alloop.models.bio.Units`
    """

    probs: np.ndarray
    offsets: np.ndarray
    units: list[Units]

    def of(self, i: int) -> np.ndarray:
        """(units of text i, T) probabilities."""
        return self.probs[self.offsets[i]: self.offsets[i + 1]]


class TokenTagger:
    """Linear BIO head on a transformer encoder, trained on first sub-word tokens.

    Parameters
    ----------
    types : list of str
        The entity types (the project's labels).
    config : TaggerConfig
    """

    input_kind = "text"
    name = "token_tagger"

    def __init__(self, types: list[str], config: TaggerConfig | None = None) -> None:
        self.types = list(types)
        self.tags = tag_names(self.types)
        self.config = config or TaggerConfig()
        self.device = _torch.device()
        self.encoder: Any = None
        self.tokenizer: Any = None
        self.head: Any = None
        self.max_length = self.config.max_length

    @property
    def n_tags(self) -> int:
        return len(self.tags)

    # -- loading and training -----------------------------------------------------------------

    def _load(self, path: Path, head: Any = None) -> None:
        hf = _torch.transformers()
        try:
            with _torch.quiet_loading():
                self.tokenizer = hf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                self.encoder = hf.AutoModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
        except (OSError, ValueError, TypeError) as exc:
            raise MissingDependency(f"cannot load a model from {str(path)!r}: {exc}") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise MissingDependency(f"{str(path)!r} has no fast tokenizer: span alignment needs its offset mapping")
        with _torch.seeded(self.config.seed):
            self.head = torch.nn.Linear(int(self.encoder.config.hidden_size), self.n_tags)
        if head is not None:
            self.head.load_state_dict(head)
        self.encoder.to(self.device).eval()
        self.head.to(self.device).eval()
        self.max_length = min(self.config.max_length, _torch.token_limit(self.tokenizer, self.encoder))

    def _tokens(self, texts: list[str]) -> tuple[Any, list[Units]]:
        """The batch's tensors and each text's units."""
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping").tolist()
        found = [units(offsets[i], encoded.word_ids(i)) for i in range(len(texts))]
        return encoded.to(self.device), found

    def _trainable(self) -> list[Any]:
        """Freeze the embeddings and all but the top ``train_layers`` layers; the parameters left to train."""
        layers = list(getattr(getattr(self.encoder, "encoder", None), "layer", []))
        keep = self.config.train_layers
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        for layer in layers[len(layers) - keep:] if keep else []:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def fit(self, texts: list[str], spans: list[list[dict[str, Any]]]) -> None:
        """Fine-tune on n texts and each one's spans (``{start, end, label}``, label one of the types)."""
        self._load(_torch.model_dir(self.config.path))
        if texts:
            with _torch.seeded(self.config.seed):
                if self.config.train_layers:
                    self._train(list(texts), list(spans))
                else:
                    self._train_head(list(texts), list(spans))
        self.encoder.eval()
        self.head.eval()

    def _frozen(self, texts: list[str]) -> list[tuple[Units, np.ndarray]]:
        """Each text's units and their (units, hidden) vectors from the frozen encoder, cached."""
        with _features_lock:  # rounds of several projects may run in threads of one process
            cache = _features.setdefault((str(self.config.path), self.max_length), {})
            missing = list(dict.fromkeys(t for t in texts if t not in cache))
            if len(cache) + len(missing) > _CACHE_TEXTS:
                cache.clear()
            with torch.inference_mode():
                for batch_idx in _torch.length_batches([len(t) for t in missing], _INFER_BATCH):
                    batch, found = self._tokens([missing[i] for i in batch_idx])
                    hidden = self.encoder(**batch).last_hidden_state.float().cpu().numpy()
                    for row, (i, unit) in enumerate(zip(batch_idx, found)):
                        cache[missing[i]] = (unit, hidden[row, unit.tokens])
            return [cache[t] for t in texts]

    def _train_head(self, texts: list[str], spans: list[list[dict[str, Any]]]) -> None:
        """The head alone on the frozen encoder's unit vectors: ``epochs x min_steps``-bounded AdamW steps
        over minibatches of ``batch_size`` texts' units."""
        cfg = self.config
        frozen = self._frozen(texts)
        X = torch.from_numpy(np.concatenate([v for _, v in frozen])).to(self.device)
        y = torch.from_numpy(np.concatenate([encode_tags(u, s, self.types) for (u, _), s in zip(frozen, spans)]))
        sizes = np.asarray([len(u) for u, _ in frozen])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        optimizer = torch.optim.AdamW(self.head.parameters(), lr=cfg.head_lr, weight_decay=cfg.weight_decay)
        per_epoch = math.ceil(len(texts) / cfg.batch_size)
        epochs = max(cfg.epochs, math.ceil(cfg.min_steps / per_epoch))
        generator = torch.Generator().manual_seed(cfg.seed)
        self.head.train()
        for _ in range(epochs):
            order = torch.randperm(len(texts), generator=generator).numpy()
            for start in range(0, len(texts), cfg.batch_size):
                rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in order[start: start + cfg.batch_size]])
                if rows.size == 0:
                    continue
                rows_t = torch.from_numpy(rows)
                loss = torch.nn.functional.cross_entropy(self.head(X[rows_t]), y[rows_t].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    def _logits(self, batch: Any) -> Any:
        return self.head(self.encoder(**batch).last_hidden_state)

    def _train(self, texts: list[str], spans: list[list[dict[str, Any]]]) -> None:
        cfg = self.config
        encoder_params = self._trainable()
        groups = [{"params": list(self.head.parameters()), "lr": cfg.head_lr}]
        if encoder_params:
            groups.append({"params": encoder_params, "lr": cfg.lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        per_epoch = math.ceil(len(texts) / cfg.batch_size)
        epochs = max(cfg.epochs, math.ceil(cfg.min_steps / per_epoch))
        total = epochs * per_epoch
        warmup = max(1, total // 10)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
        )
        generator = torch.Generator().manual_seed(cfg.seed)
        self.encoder.train()
        self.head.train()
        for _ in range(epochs):
            order = torch.randperm(len(texts), generator=generator).numpy()
            for start in range(0, len(texts), cfg.batch_size):
                idx = order[start: start + cfg.batch_size]
                batch, found = self._tokens([texts[i] for i in idx])
                target = torch.full(batch["input_ids"].shape, -100, dtype=torch.long)
                for row, (i, unit) in enumerate(zip(idx, found)):
                    target[row, torch.from_numpy(unit.tokens)] = torch.from_numpy(encode_tags(unit, spans[i], self.types))
                logits = self._logits(batch)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, self.n_tags), target.reshape(-1).to(self.device),
                                                         ignore_index=-100)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                optimizer.step()
                schedule.step()

    # -- inference ----------------------------------------------------------------------------

    def unit_probs(self, texts: list[str]) -> UnitProbs:
        """Tag probabilities of every unit of every text (:class:`UnitProbs`)."""
        texts = list(texts)
        found: list[Units | None] = [None] * len(texts)
        parts: list[np.ndarray | None] = [None] * len(texts)
        if not self.config.train_layers:  # the frozen encoder's cached vectors through the head
            with torch.inference_mode():
                for i, (unit, vectors) in enumerate(self._frozen(texts)):
                    found[i] = unit
                    parts[i] = torch.softmax(self.head(torch.from_numpy(vectors).to(self.device)), dim=-1).cpu().numpy()
        with torch.inference_mode():
            for batch_idx in _torch.length_batches([len(t) for t in texts], _INFER_BATCH) if self.config.train_layers else []:
                batch, units_ = self._tokens([texts[i] for i in batch_idx])
                probs = torch.softmax(self._logits(batch).float(), dim=-1).cpu().numpy()
                for row, (i, unit) in enumerate(zip(batch_idx, units_)):
                    found[i], parts[i] = unit, probs[row, unit.tokens]
        sizes = np.asarray([len(u) for u in found], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = np.concatenate(parts).astype(np.float32) if texts else np.empty((0, self.n_tags), np.float32)
        return UnitProbs(flat, offsets, found)  # type: ignore[arg-type]

    def predict_spans(self, texts: list[str], probs: UnitProbs | None = None) -> list[list[dict[str, Any]]]:
        """Each text's spans: the most probable tag of each unit, decoded (invalid BIO repaired)."""
        probs = probs if probs is not None else self.unit_probs(texts)
        return [decode_tags(probs.of(i).argmax(axis=1), probs.units[i], self.types) for i in range(len(probs.units))]

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write a directory: the head and ``alloop.json``, and the fine-tuned encoder with its tokenizer
        (Hugging Face) unless the encoder stayed frozen (then it loads from ``config.path`` again)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.encoder is not None:
            if self.config.train_layers:
                with _torch.quiet_loading():
                    self.encoder.save_pretrained(str(path))
                self.tokenizer.save_pretrained(str(path))
            torch.save(self.head.state_dict(), path / _HEAD)
        meta = {"format": _FORMAT, "types": self.types, "config": dataclasses.asdict(self.config),
                "fitted": self.encoder is not None}
        (path / _META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path) -> TokenTagger:
        """Read a directory written by :meth:`save`."""
        path = Path(path)
        meta = json.loads((path / _META).read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a saved token tagger")
        model = cls(meta["types"], TaggerConfig(**meta["config"]))
        if meta["fitted"]:
            base = path if model.config.train_layers else _torch.model_dir(model.config.path)
            model._load(base, head=torch.load(path / _HEAD, map_location="cpu", weights_only=True))
        return model
