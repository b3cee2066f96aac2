"""``tf.math``: TensorFlow's math namespace over shendu (``import shendu as tf; tf.math.log(x)``).

Aliases of ``shendu.numpy_api`` and ``shendu.nn_api`` where TensorFlow's positional arguments match, small
adapters where its names or defaults differ (``reduce_*``, ``l2_normalize``, ``floormod``, ...)."""
from __future__ import annotations

from shendu import backend, ops
from shendu import numpy_api as np_api
from shendu.layers.symbolic_calls import accept_symbolic_all as _accept_symbolic_all
from shendu.missing import missing_names as _missing_names
from shendu.nn_api import log_sigmoid, sigmoid, softplus, softsign  # noqa: F401
from shendu.numpy_api import (abs, add, ceil, cos, cosh, count_nonzero, divide, divide_no_nan, equal, erf,  # noqa: F401
                              exp, expm1, floor, greater, greater_equal, in_top_k, less, less_equal, log, log1p,
                              logical_and, logical_not, logical_or, logical_xor, maximum, minimum, multiply, negative,
                              not_equal, reciprocal, rsqrt, sign, sin, sinh, sqrt, square, subtract, tan, tanh)
from shendu.numpy_api import arccos as acos  # noqa: F401
from shendu.numpy_api import arccosh as acosh  # noqa: F401
from shendu.numpy_api import arcsin as asin  # noqa: F401
from shendu.numpy_api import arcsinh as asinh  # noqa: F401
from shendu.numpy_api import arctan as atan  # noqa: F401
from shendu.numpy_api import arctan2 as atan2  # noqa: F401
from shendu.numpy_api import arctanh as atanh  # noqa: F401
from shendu.numpy_api import floor_divide as floordiv  # noqa: F401
from shendu.numpy_api import isfinite as is_finite  # noqa: F401
from shendu.numpy_api import isinf as is_inf  # noqa: F401
from shendu.numpy_api import isnan as is_nan  # noqa: F401
from shendu.numpy_api import mod as floormod  # noqa: F401
from shendu.numpy_api import power as pow  # noqa: F401
from shendu.numpy_api import round  # noqa: F401
from shendu.numpy_api.creation import convert_to_tensor as _t
from shendu.tensor import Tensor
from shendu.tf_api.reductions import (argmax, argmin, cumprod, cumsum, reduce_all, reduce_any,  # noqa: F401
                                      reduce_euclidean_norm, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
                                      reduce_prod, reduce_std, reduce_sum, reduce_variance)

truediv = divide
mod = floormod


def squared_difference(x, y, name=None) -> Tensor:
    """(x - y)²."""
    return np_api.square(np_api.subtract(x, y))


def xlogy(x, y, name=None) -> Tensor:
    """x log y, and 0 where x == 0."""
    x = np_api.convert_to_tensor(x)
    return np_api.where(x.data == 0, 0.0, np_api.multiply(x, np_api.log(np_api.where(x.data == 0, 1.0, y))))


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None) -> Tensor:
    """x / √max(Σx², ε) over ``axis`` (all axes when None)."""
    x = np_api.convert_to_tensor(x)
    axis = dim if axis is None else axis
    axes = tuple(range(x.ndim)) if axis is None else axis
    sq = np_api.sum(np_api.square(x), axes, keepdims=True)
    return np_api.multiply(x, np_api.rsqrt(np_api.maximum(sq, float(epsilon))))


def softmax(logits, axis=None, name=None) -> Tensor:
    return ops.softmax(_t(logits), -1 if axis is None else axis)


def log_softmax(logits, axis=None, name=None) -> Tensor:
    return ops.log_softmax(_t(logits), -1 if axis is None else axis)


def top_k(input, k=1, sorted=True, index_type="int32", name=None) -> tuple:
    values, indices = np_api.top_k(input, k, sorted)
    return values, np_api.cast(indices, index_type)


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype="int32", name=None) -> Tensor:
    """counts[i, j] = how many samples of class i were predicted as j (a constant)."""
    y, p = _t(labels).data.astype("int64").reshape(-1), _t(predictions).data.astype("int64").reshape(-1)
    n = int(max(y.max(), p.max())) + 1 if num_classes is None else int(num_classes)
    w = backend.xp.ones(y.shape) if weights is None else _t(weights).data.reshape(-1)
    out = backend.xp.zeros((n, n))
    backend.xp.add.at(out, (y, p), w)
    return Tensor._wrap(out.astype(np_api.standardize_dtype(dtype)), False)


def segment_sum(data, segment_ids, name=None) -> Tensor:
    return np_api.segment_sum(data, segment_ids)


def unsorted_segment_sum(data, segment_ids, num_segments, name=None) -> Tensor:
    return np_api.segment_sum(data, segment_ids, num_segments)


def segment_max(data, segment_ids, name=None) -> Tensor:
    return np_api.segment_max(data, segment_ids)


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype="int32", name=None, axis=None,
             binary_output=False) -> Tensor:
    out = np_api.bincount(np_api.reshape(arr, (-1,)), weights, minlength or 0)
    return out if maxlength is None else out[:int(maxlength)]


_UNSUPPORTED = {
    "lgamma": "shendu has no log-gamma function; use scipy.special.gammaln on tensor.numpy() (no gradient).",
    "digamma": "shendu has no digamma function; use scipy.special.digamma on tensor.numpy() (no gradient).",
    "igamma": "shendu has no incomplete gamma function; use scipy.special.gammainc on tensor.numpy().",
    "bessel_i0": "use numpy.i0 on tensor.numpy() (no gradient).",
    "polyval": "evaluate the polynomial with Horner's rule: y = c[0]; y = y * x + c[i] for each coefficient.",
    "angle": "shendu tensors are real-valued (no complex dtype).",
    "conj": "shendu tensors are real-valued (no complex dtype).",
    "imag": "shendu tensors are real-valued (no complex dtype).",
    "real": "shendu tensors are real-valued (no complex dtype); the tensor itself is its real part.",
    "unsorted_segment_max": "use tf.math.segment_max with sorted ids or keras.ops.segment_max(..., num_segments).",
    "unsorted_segment_mean": "divide tf.math.unsorted_segment_sum of the data by that of ones.",
}
__getattr__ = _missing_names("tf.math", _UNSUPPORTED, globals())
_accept_symbolic_all(globals(), [name for name in list(globals()) if not name.startswith("_")])
