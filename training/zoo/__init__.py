"""The model zoo: ``create_model(name)``, ``list_models(pattern)``, ``model_macs(model)``."""

from training.zoo.macs import model_macs
from training.zoo.registry import create_model, get_entry, list_models, register

__all__ = ["create_model", "get_entry", "list_models", "model_macs", "register"]
