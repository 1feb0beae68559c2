"""Model adapters: one small protocol over scikit-learn, PyTorch MLP heads and Hugging Face transformers.

Importing this package never imports torch; the torch adapters load on first use.
"""

from alloop.models.base import Encoder, MissingDependency, Model
from alloop.models.registry import UnknownModel, build_model, check_model, gives_samples, input_kind, load_model, names

__all__ = [
    "Encoder", "MissingDependency", "Model", "UnknownModel", "build_model", "check_model", "gives_samples", "input_kind",
    "load_model", "names",
]
