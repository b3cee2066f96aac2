"""Functions that accept symbolic tensors: ``keras.ops.concatenate([x, y])`` or ``tf.reduce_mean(x, axis=1)``
written directly on ``Input`` tensors in functional code become a ``TensorOp`` node, replayed on real tensors
when the model runs (as Keras 3 does for ``keras.ops`` and tf.keras 2 for TensorFlow functions). The TensorFlow
functions of ``shendu.tf_api`` reach ``symbolic_node`` through ``shendu.tf_api.symbolic``, which does not load
the layers before a KerasTensor can exist."""
from __future__ import annotations

import functools

from shendu.layers.core import TensorOp
from shendu.layers.symbolic import KerasTensor, flatten, is_symbolic, map_structure


def symbolic_node(fn, args: tuple, kwargs: dict):
    """The functional-graph node of ``fn(*args, **kwargs)`` on arguments holding KerasTensors: it calls ``fn``
    with the same arguments once real tensors take the symbols' places."""
    symbols = [x for x in flatten((args, kwargs)) if isinstance(x, KerasTensor)]

    def replay(*tensors):
        values = iter(tensors)
        real_args, real_kwargs = map_structure(lambda x: next(values) if isinstance(x, KerasTensor) else x,
                                               (args, kwargs))
        return fn(*real_args, **real_kwargs)

    return TensorOp(replay, fn.__name__)(symbols)


def accept_symbolic(fn):
    """``fn`` unchanged on real values; on arguments holding KerasTensors, a functional-graph node
    (``symbolic_node``)."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if not is_symbolic((args, kwargs)):
            return fn(*args, **kwargs)
        return symbolic_node(fn, args, kwargs)
    return call


def accept_symbolic_all(namespace: dict, names) -> None:
    """Wrap every function ``names`` lists in ``namespace`` (a module's globals) with ``accept_symbolic``."""
    for name in names:
        value = namespace.get(name)
        if callable(value) and not isinstance(value, type):
            namespace[name] = accept_symbolic(value)
