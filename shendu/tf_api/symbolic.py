"""TensorFlow's functions on symbolic tensors, without loading the layers when ``shendu`` is imported.

``tf.reduce_mean(x, axis=1)`` written on a ``keras.Input`` tensor becomes a node of the functional graph, as a
``keras.ops`` call does (``shendu.layers.symbolic_calls``). A plain ``import shendu`` loads these functions
but not the layers (``shendu.keras`` and ``shendu.layers`` load them on first use), and a KerasTensor can
exist only once ``shendu.layers.symbolic`` has been loaded: until then a wrapped function costs one
dictionary look-up more than the plain function; from then on it asks that module whether an argument is
symbolic, and hands such a call to the layers.
"""
from __future__ import annotations

import functools
import sys

# where KerasTensor is defined: while it is not loaded, no argument can be symbolic
_KERAS_TENSOR_MODULE = "shendu.layers.symbolic"


def accept_symbolic(fn):
    """``fn`` unchanged on real values; on arguments holding KerasTensors, a functional-graph node (see
    ``shendu.layers.symbolic_calls.symbolic_node``)."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        symbolic = sys.modules.get(_KERAS_TENSOR_MODULE)
        if symbolic is None or not symbolic.is_symbolic((args, kwargs)):
            return fn(*args, **kwargs)
        from shendu.layers.symbolic_calls import symbolic_node  # deferred: `import shendu` leaves the layers unloaded
        return symbolic_node(fn, args, kwargs)
    return call


def accept_symbolic_all(namespace: dict, names) -> None:
    """Wrap every function ``names`` lists in ``namespace`` (a module's globals) with ``accept_symbolic``."""
    for name in names:
        value = namespace.get(name)
        if callable(value) and not isinstance(value, type):
            namespace[name] = accept_symbolic(value)
