"""The model zoo: ``create_model(name)``, ``list_models(pattern)``, ``model_macs(model)``.

Importing the package registers every architecture: :mod:`.registry` holds the table and the
``@register`` decorator; :mod:`.edge` and :mod:`.seeds` fill it (they import the registry, never the reverse).
"""

from edge_fer.training.zoo import edge, seeds  # noqa: F401  (register the architectures)
from edge_fer.training.zoo.macs import model_macs
from edge_fer.training.zoo.registry import create_model, get_entry, list_models, register

__all__ = ["create_model", "get_entry", "list_models", "model_macs", "register"]
