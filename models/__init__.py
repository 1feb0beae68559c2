"""Model adapters: one small protocol over scikit-learn (and, later, torch and transformers)."""

from models.base import Encoder, MissingDependency, Model
from models.registry import UnknownModel, build_model, check_model, names

__all__ = ["Encoder", "MissingDependency", "Model", "UnknownModel", "build_model", "check_model", "names"]
