"""Weight constraints: projections the optimizer applies to a weight after each update (``w <- c(w)``).

A layer takes them as ``kernel_constraint=``, ``bias_constraint=`` (and ``recurrent_``, ``embeddings_``,
``beta_``/``gamma_``, ``depthwise_``/``pointwise_``, ``alpha_`` ...); ``add_weight`` stores the constraint on
the weight and ``Optimizer.apply`` writes ``constraint(w)`` back into it after the update step, as Keras does.
Norms are taken over ``axis`` (0 for a Dense kernel (in, out): one norm per output unit; ``[0, 1, 2]`` for
a Conv2D kernel (kh, kw, in, out): one per filter), with eps = 1e-7 (Keras's ``epsilon()``) below them.
"""
from __future__ import annotations

from shendu import backend
from shendu.missing import did_you_mean
from shendu.serialization import serialize_or_function
from shendu.tensor import Tensor

EPSILON = 1e-7          # keras.backend.epsilon(): keeps an all-zero column finite


def _array(w):
    return w.data if isinstance(w, Tensor) else backend.asarray(w)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w, axis):
    """||w|| over ``axis``, kept as size-1 axes so it divides ``w`` column by column."""
    xp = backend.xp
    return xp.sqrt(xp.sum(w * w, axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the identity here); ``get_config`` its arguments."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class MaxNorm(Constraint):
    """w <- w * clip(||w||, 0, max_value) / (eps + ||w||): columns longer than ``max_value`` are scaled down."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = backend.xp.clip(norms, 0, self.max_value)
        return Tensor(w * (desired / (EPSILON + norms)))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """w <- max(w, 0)"""

    def __call__(self, w):
        return Tensor(backend.xp.maximum(_array(w), 0))


class UnitNorm(Constraint):
    """w <- w / (eps + ||w||): every column has norm 1."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _array(w)
        return Tensor(w / (EPSILON + _norms(w, self.axis)))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """w <- w * (rate * clip(||w||, min_value, max_value) + (1 - rate) * ||w||) / (eps + ||w||)

    ``rate`` = 1 projects the norm into [min_value, max_value] at once; a smaller rate moves it part of the way
    at each step.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = self.rate * backend.xp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return Tensor(w * (desired / (EPSILON + norms)))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

ALL_OBJECTS = {cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
ALL_OBJECTS.update({"constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                    "min_max_norm": MinMaxNorm})


def _unknown(identifier) -> ValueError:
    hint = did_you_mean(identifier, ALL_OBJECTS)
    return ValueError(f"Could not interpret constraint identifier {identifier!r}.{hint} "
                      f"Valid names are: {', '.join(sorted(ALL_OBJECTS))}; a Constraint instance or any function "
                      "w -> projected w works too.")


def serialize(constraint):
    """Keras 3's dict: ``{"module": "keras.constraints", "class_name", "config", "registered_name"}``; a plain
    function by its name. None stays None."""
    if constraint is None:
        return None
    return serialize_or_function(constraint, "keras.constraints", Constraint, "Constraint")


def deserialize(config, custom_objects: dict | None = None):
    """The constraint a ``serialize`` dict (or a name) describes; classes come only from this module or
    ``custom_objects``."""
    table = {**ALL_OBJECTS, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in table:
            raise _unknown(config)
        obj = table[config]
        return obj() if isinstance(obj, type) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a constraint name or a dict with 'class_name' and 'config', "
                         f"got {config!r}.")
    if config["class_name"] == "function":
        return deserialize(config["config"], custom_objects)
    cls = table.get(config.get("registered_name") or config["class_name"], table.get(config["class_name"]))
    if not isinstance(cls, type):
        raise _unknown(config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A constraint from None, a name ('max_norm', 'MaxNorm'), a config dict, a class, an instance or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in ALL_OBJECTS:
            raise _unknown(identifier)
        identifier = ALL_OBJECTS[identifier]
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise _unknown(identifier)
