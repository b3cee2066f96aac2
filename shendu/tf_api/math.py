"""``tf.math``: TensorFlow's math namespace over shendu (``import shendu as tf; tf.math.log(x)``).

Aliases of ``shendu.numpy_api`` and ``shendu.nn_api`` where TensorFlow's positional arguments match, small
adapters where its names or defaults differ (``reduce_*``, ``l2_normalize``, ``floormod``, ...)."""
from __future__ import annotations

from shendu import backend, ops
from shendu import numpy_api as np_api
from shendu.missing import missing_names as _missing_names
from shendu.nn_api import log_sigmoid, sigmoid, softplus, softsign  # noqa: F401
from shendu.numpy_api import (abs, add, ceil, cos, cosh, count_nonzero, divide, divide_no_nan, equal, erf,  # noqa: F401
                              erfc, erfinv, exp, expm1, floor, greater, greater_equal, in_top_k, less, less_equal,
                              log, log1p, logical_and, logical_not, logical_or, logical_xor, maximum, minimum,
                              multiply, negative, not_equal, reciprocal, rsqrt, sign, sin, sinh, sqrt, square,
                              subtract, tan, tanh)
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
from shendu.tf_api.symbolic import accept_symbolic_all as _accept_symbolic_all

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



def add_n(inputs, name=None) -> Tensor:
    """Σ of the tensors in ``inputs``."""
    out = _t(inputs[0])
    for x in inputs[1:]:
        out = ops.add(out, x)
    return out


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None) -> Tensor:
    return add_n(inputs)


def scalar_mul(scalar, x, name=None) -> Tensor:
    return np_api.multiply(scalar, x)


def rint(x, name=None) -> Tensor:
    """Round half to even (a constant: piecewise flat)."""
    return np_api.round(x)


def multiply_no_nan(x, y, name=None) -> Tensor:
    """x y, and 0 where y == 0 even if x is inf or NaN."""
    y = _t(y)
    return np_api.where(y.data == 0, 0.0, np_api.multiply(np_api.where(y.data == 0, 0.0, x), y))


def reciprocal_no_nan(x, name=None) -> Tensor:
    return np_api.divide_no_nan(1.0, x)


def xdivy(x, y, name=None) -> Tensor:
    """x / y, and 0 where x == 0."""
    x = _t(x)
    return np_api.where(x.data == 0, 0.0, np_api.divide(x, np_api.where(x.data == 0, 1.0, y)))


def xlog1py(x, y, name=None) -> Tensor:
    """x log(1 + y), and 0 where x == 0."""
    x = _t(x)
    return np_api.where(x.data == 0, 0.0, np_api.multiply(x, np_api.log1p(np_api.where(x.data == 0, 0.0, y))))


def zero_fraction(value, name=None) -> Tensor:
    """The fraction of entries equal to 0 (a float32 constant)."""
    data = _t(value).data
    return Tensor._wrap(backend.xp.asarray((data == 0).mean(), "float32"), False)


def cumulative_logsumexp(x, axis=0, exclusive=False, reverse=False, name=None) -> Tensor:
    """log Σ_{j<=i} e^{x_j} along ``axis``, shifted by the maximum so large values do not overflow."""
    x = _t(x)
    if reverse:
        x = np_api.flip(x, axis)
    m = Tensor._wrap(x.data.max(axis=axis, keepdims=True), False)
    y = ops.add(np_api.log(np_api.cumsum(ops.exp(ops.sub(x, m)), axis)), m)
    if exclusive:
        shifted = np_api.roll(y, 1, axis)
        first = np_api.arange(x.shape[axis]) == 0
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        y = np_api.where(np_api.reshape(first, shape), -float("inf"), shifted)
    return np_api.flip(y, axis) if reverse else y


def invert_permutation(x, name=None) -> Tensor:
    """y[x[i]] = i (an int constant)."""
    return np_api.argsort(x)


def is_non_decreasing(x, name=None) -> Tensor:
    data = _t(x).data.reshape(-1)
    return Tensor._wrap(backend.xp.asarray(bool((data[1:] >= data[:-1]).all())), False)


def is_strictly_increasing(x, name=None) -> Tensor:
    data = _t(x).data.reshape(-1)
    return Tensor._wrap(backend.xp.asarray(bool((data[1:] > data[:-1]).all())), False)


def segment_mean(data, segment_ids, name=None) -> Tensor:
    return unsorted_segment_mean(data, segment_ids, int(_t(segment_ids).data.max()) + 1)


def segment_min(data, segment_ids, name=None) -> Tensor:
    return ops.neg(np_api.segment_max(ops.neg(_t(data)), segment_ids))


def unsorted_segment_max(data, segment_ids, num_segments, name=None) -> Tensor:
    return np_api.segment_max(data, segment_ids, num_segments)


def unsorted_segment_min(data, segment_ids, num_segments, name=None) -> Tensor:
    return ops.neg(np_api.segment_max(ops.neg(_t(data)), segment_ids, num_segments))


def _segment_sum_and_count(data, segment_ids, num_segments):
    """Each segment's sum of rows, and its number of rows (at least 1, shaped to divide the sum)."""
    x = _t(data)
    total = np_api.segment_sum(x, segment_ids, num_segments)
    counts = np_api.segment_sum(np_api.ones((x.shape[0],), x.dtype), segment_ids, num_segments)
    return total, np_api.maximum(ops.reshape(counts, (-1,) + (1,) * (x.ndim - 1)), 1.0)


def unsorted_segment_mean(data, segment_ids, num_segments, name=None) -> Tensor:
    total, counts = _segment_sum_and_count(data, segment_ids, num_segments)
    return np_api.divide(total, counts)


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None) -> Tensor:
    total, counts = _segment_sum_and_count(data, segment_ids, num_segments)
    return np_api.divide(total, np_api.sqrt(counts))


def approx_max_k(operand, k, reduction_dimension=-1, recall_target=0.95, reduction_input_size_override=-1,
                 aggregate_to_topk=True, name=None) -> tuple:
    """The exact top k (shendu computes it exactly) along the last axis."""
    return np_api.top_k(operand, k)


def approx_min_k(operand, k, reduction_dimension=-1, recall_target=0.95, reduction_input_size_override=-1,
                 aggregate_to_topk=True, name=None) -> tuple:
    values, indices = np_api.top_k(ops.neg(_t(operand)), k)
    return ops.neg(values), indices

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
    **{name: f"shendu has no {name}; use scipy.special on tensor.numpy() (no gradient)." for name in (
        "bessel_i0e", "bessel_i1", "bessel_i1e", "betainc", "erfcinv", "igammac", "lbeta", "ndtri", "polygamma",
        "zeta")},
    "nextafter": "use numpy.nextafter on tensor.numpy() (no gradient).",
    "sobol_sample": "use scipy.stats.qmc.Sobol (no gradient).",
    "segment_prod": "use tf.exp(tf.math.segment_sum(tf.math.log(data), ids)) for positive data.",
    "unsorted_segment_prod": "use tf.exp(tf.math.unsorted_segment_sum(tf.math.log(data), ids, n)) for positive data.",
}
__getattr__ = _missing_names("tf.math", _UNSUPPORTED, globals())
_accept_symbolic_all(globals(), [name for name in list(globals()) if not name.startswith("_")])
