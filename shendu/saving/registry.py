"""The one table of classes and functions a saved config may name, by the name it is saved under.

Layers come from ``shendu.layers`` (every public ``Layer`` subclass, aliases included); the model
classes are not known here until ``shendu.models`` registers them when it is imported
(``register_model_class``), because models sit above saving: saving finds ``Sequential``,
``Functional`` and ``Model`` by name, never by importing them. Library functions (activations,
losses, metrics) are found by name in their modules' tables. A user's own classes live in
``shendu.registration`` (``@register_keras_serializable``) and in ``custom_objects``.
"""
from __future__ import annotations

from shendu import activations, layers, losses, metrics
from shendu.initializers import Initializer
from shendu.layers.base import Layer
from shendu.losses import Loss
from shendu.metrics import Metric
from shendu.optimizers import Optimizer
from shendu.regularizers import Regularizer

_MODELS: dict[str, type] = {}                   # "Sequential" -> Sequential, ...
_WRITTEN_AS: dict[type, tuple[str, str | None]] = {}    # class -> (Keras module, registered_name) in a file


def register_model_class(cls: type, module: str | None = None, registered_name: str | None = None) -> type:
    """Make ``cls`` loadable under its name. With ``module``, a model of this class (or of a subclass
    not registered itself) is written as ``{"module": module, "class_name": cls.__name__,
    "registered_name": registered_name}``, as Keras 3 writes it."""
    _MODELS[cls.__name__] = cls
    if module is not None:
        _WRITTEN_AS[cls] = (module, registered_name)
    return cls


def model_class(name: str) -> type | None:
    """The model class registered as ``name`` ('Sequential', 'Functional', 'Model'), or None."""
    return _MODELS.get(name)


def is_model(obj, name: str) -> bool:
    """Whether ``obj`` is an instance of the model class registered as ``name``."""
    cls = _MODELS.get(name)
    return cls is not None and isinstance(obj, cls)


def written_as(obj) -> tuple[str, str, str | None] | None:
    """(class_name, module, registered_name) a registered model class writes ``obj`` as, or None."""
    for klass in type(obj).__mro__:
        if klass in _WRITTEN_AS:
            module, registered_name = _WRITTEN_AS[klass]
            return klass.__name__, module, registered_name
    return None


def layer_registry() -> dict:
    """Every Layer class exported by ``shendu.layers`` and every registered model class, by name.

    Built on each call, so layers added to ``shendu.layers`` later are found without a list here.
    """
    table = {}
    for public_name in dir(layers):
        obj = getattr(layers, public_name)
        if isinstance(obj, type) and issubclass(obj, Layer):
            table.setdefault(obj.__name__, obj)     # the class's own name wins over an alias
            table.setdefault(public_name, obj)      # Convolution2D -> Conv2D
    table.update(_MODELS)
    return table


def function_tables() -> list[tuple[str, dict]]:
    """(Keras module, name -> function) for the library's functions a config may name."""
    return [("keras.activations", dict(activations._BY_NAME)),
            ("keras.losses", {k: v for k, v in losses.ALL_OBJECTS.items() if not isinstance(v, type)}),
            ("keras.metrics", {k: v for k, v in metrics._ALL_NAMES.items() if not isinstance(v, type)})]


_MODULES = ((Layer, "keras.layers"), (Initializer, "keras.initializers"), (Regularizer, "keras.regularizers"),
            (Optimizer, "keras.optimizers"), (Loss, "keras.losses"), (Metric, "keras.metrics"))


def keras_module(obj) -> str:
    """The Keras module an object of the library is written under ('keras.optimizers', ...)."""
    for base, module in _MODULES:
        if isinstance(obj, base):
            return module
    return type(obj).__module__
