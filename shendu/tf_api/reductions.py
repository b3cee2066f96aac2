"""TensorFlow's reductions (``tf.reduce_sum``, ``tf.argmax``, ``tf.cumsum``, ...) with its argument names and
defaults, over ``shendu.numpy_api``."""
from __future__ import annotations

import numpy as _np

from shendu import ops
from shendu import numpy_api as np_api
from shendu.numpy_api.creation import convert_to_tensor as _to_tensor
from shendu.numpy_api.creation import standardize_dtype
from shendu.tensor import Tensor


# ---------------------------------------------------------------- reductions (tf.reduce_*)
def reduce_sum(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.sum(input_tensor, axis, keepdims)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    """The mean; of an int tensor it stays int (rounded toward zero), as in TensorFlow."""
    x = _to_tensor(input_tensor)
    if x.dtype.kind in "iu":
        return ops.cast(np_api.trunc(np_api.mean(x, axis, keepdims)), x.dtype)
    return np_api.mean(x, axis, keepdims)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.max(input_tensor, axis, keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.min(input_tensor, axis, keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.prod(input_tensor, axis, keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.std(input_tensor, axis, keepdims)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.var(input_tensor, axis, keepdims)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.any(input_tensor, axis, keepdims)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.all(input_tensor, axis, keepdims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.logsumexp(input_tensor, axis, keepdims)


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None) -> Tensor:
    return np_api.norm(input_tensor, None, axis, keepdims)


def _int_index(fn, input, axis, output_type):
    out = fn(input, 0 if axis is None else axis)
    return ops.cast(out, standardize_dtype(output_type))


def argmax(input, axis=None, output_type=_np.int64, name=None) -> Tensor:
    """Index of the largest value along ``axis`` (0 when None, as in TensorFlow); int64 by default."""
    return _int_index(np_api.argmax, input, axis, output_type)


def argmin(input, axis=None, output_type=_np.int64, name=None) -> Tensor:
    """Index of the smallest value along ``axis`` (0 when None, as in TensorFlow); int64 by default."""
    return _int_index(np_api.argmin, input, axis, output_type)


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:
    """Running sums; ``exclusive`` leaves each entry out of its own sum, ``reverse`` runs from the end."""
    x = _to_tensor(x)
    if reverse:
        x = np_api.flip(x, axis)
    y = np_api.cumsum(x, axis)
    if exclusive:
        y = ops.sub(y, x)
    return np_api.flip(y, axis) if reverse else y


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:
    x = _to_tensor(x)
    if reverse:
        x = np_api.flip(x, axis)
    y = np_api.cumprod(x, axis)
    if exclusive:
        y = np_api.pad(np_api.slice(y, [0] * y.ndim, [n - 1 if i == axis % y.ndim else n
                                                     for i, n in enumerate(y.shape)]),
                       [(1, 0) if i == axis % y.ndim else (0, 0) for i in range(y.ndim)], constant_values=1)
    return np_api.flip(y, axis) if reverse else y
