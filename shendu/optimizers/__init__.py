"""Optimizers with Keras 3's update rules, defaults and config keys, plus learning-rate schedules.

``get("adam")`` gives ``Adam()``; an Optimizer passes through; a ``{"class_name", "config"}``
dict (from ``serialize`` or a Keras 3 file) is rebuilt.
"""
from __future__ import annotations

from shendu import serialization
from shendu.optimizers import schedules
from shendu.optimizers.adagrad import Adadelta, Adagrad
from shendu.optimizers.adam import Adam, AdamW, Nadam
from shendu.optimizers.base import Optimizer
from shendu.optimizers.rmsprop import RMSprop
from shendu.optimizers.sgd import SGD

ALL_OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW, Nadam, RMSprop, Adagrad, Adadelta)}
_ALIASES = {name.lower(): name for name in ALL_OPTIMIZERS}


def serialize(optimizer: Optimizer) -> dict:
    """Keras 3's nested dict: ``{"module", "class_name", "config", "registered_name"}``."""
    return serialization.serialize(optimizer, "keras.optimizers")


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """The optimizer a ``serialize`` dict describes; ``class_name`` is matched case-insensitively."""
    registry = dict(ALL_OPTIMIZERS, **(custom_objects or {}))
    return serialization.lookup("optimizer", config, registry, _ALIASES)


def get(identifier) -> Optimizer | None:
    """An optimizer from a name ('adam', 'SGD', ...), a config dict, or an Optimizer (returned as is)."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        raise ValueError(f"Got the class {identifier.__name__}, not an optimizer; pass an instance such as "
                         f"{identifier.__name__}() or the string {identifier.__name__.lower()!r}.")
    if not isinstance(identifier, (str, dict)):
        raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Pass a name such as "
                         f"'adam', a config dict, or an Optimizer instance.")
    return deserialize(identifier)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Nadam", "RMSprop", "Adagrad", "Adadelta", "schedules",
           "get", "serialize", "deserialize"]
