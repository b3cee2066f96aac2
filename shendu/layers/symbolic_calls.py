"""Functions that accept symbolic tensors: ``keras.ops.concatenate([x, y])`` or ``tf.reduce_mean(x, axis=1)``
written directly on ``Input`` tensors in functional code become a ``TensorOp`` node, replayed on real tensors
when the model runs (as Keras 3 does for ``keras.ops`` and tf.keras 2 for TensorFlow functions). The wrapper,
``shendu.tf_api.symbolic.accept_symbolic``, lives with the TensorFlow functions, which ``import shendu`` loads
before the layers: it reaches ``symbolic_node`` once a KerasTensor can exist."""
from __future__ import annotations

from shendu.layers.core import TensorOp
from shendu.layers.symbolic import KerasTensor, flatten, map_structure


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
