"""Activation functions by their Keras names: ``get('relu')`` gives the op, ``serialize`` the name back."""
from __future__ import annotations

from shendu import ops, registration
from shendu.missing import did_you_mean
from shendu.tensor import as_tensor


def linear(x):
    """a = z (no activation)."""
    return as_tensor(x)


def exponential(x):
    return ops.exp(x)


def relu6(x):
    return ops.clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.2):
    return ops.leaky_relu(x, alpha=negative_slope)


relu, sigmoid, tanh, softmax, log_softmax = ops.relu, ops.sigmoid, ops.tanh, ops.softmax, ops.log_softmax
elu, selu, softplus, softsign, gelu = ops.elu, ops.selu, ops.softplus, ops.softsign, ops.gelu
swish = silu = ops.swish
hard_sigmoid = ops.hard_sigmoid

_BY_NAME = {"linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
            "log_softmax": log_softmax, "elu": elu, "selu": selu, "softplus": softplus, "softsign": softsign,
            "gelu": gelu, "silu": silu, "swish": swish, "hard_sigmoid": hard_sigmoid, "exponential": exponential,
            "relu6": relu6, "leaky_relu": leaky_relu}


def get(identifier):
    """The activation function for a Keras name, None ('linear') or a callable."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier).get("name", identifier.get("class_name"))
    fn = _BY_NAME.get(str(identifier).lower())
    if fn is None:
        fn = registration.find(str(identifier))       # a function registered with register_keras_serializable
    if fn is None:
        raise ValueError(f"Unknown activation {identifier!r}.{did_you_mean(identifier, _BY_NAME)} Valid activations "
                         f"are: {', '.join(sorted(_BY_NAME))}.")
    return fn


def serialize(fn) -> str:
    """The Keras name of an activation (custom callables by their function name)."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", str(fn))


deserialize = get
