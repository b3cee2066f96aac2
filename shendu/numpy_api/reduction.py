"""Reductions and scans with NumPy's (and ``keras.ops``'s) names: sum, mean, std, argmax, cumsum, median, ..."""
from __future__ import annotations

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor, standardize_dtype
from shendu.numpy_api.indexing import sort
from shendu.numpy_api.math import _float
from shendu.ops import math as mops
from shendu.tensor import Tensor


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _const(array) -> Tensor:
    return Tensor._wrap(array, False)


def sum(x, axis=None, keepdims=False) -> Tensor:
    x = convert_to_tensor(x)
    if x.dtype.kind == "b":
        x = ops.cast(x, "int32")
    return ops.sum(x, _axis(axis), keepdims)


def mean(x, axis=None, keepdims=False) -> Tensor:
    return ops.mean(_float(x), _axis(axis), keepdims)


def _with_initial(reduce, op, x, axis, keepdims, initial):
    y = reduce(convert_to_tensor(x), _axis(axis), keepdims)
    return y if initial is None else op(y, initial)


def max(x, axis=None, keepdims=False, initial=None) -> Tensor:
    """The largest value (ties share the gradient equally); ``initial`` is a lower bound."""
    return _with_initial(ops.max, ops.maximum, x, axis, keepdims, initial)


def min(x, axis=None, keepdims=False, initial=None) -> Tensor:
    """The smallest value (ties share the gradient equally); ``initial`` is an upper bound."""
    return _with_initial(ops.min, ops.minimum, x, axis, keepdims, initial)


def amax(x, axis=None, keepdims=False) -> Tensor:
    return max(x, axis, keepdims)


def amin(x, axis=None, keepdims=False) -> Tensor:
    return min(x, axis, keepdims)


def prod(x, axis=None, keepdims=False, dtype=None) -> Tensor:
    x = convert_to_tensor(x, dtype)
    return mops.prod(x, axis=_axis(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False) -> Tensor:
    """Biased variance mean((x - mean x)²), as NumPy and Keras compute it."""
    x = _float(x)
    centered = ops.sub(x, ops.mean(x, _axis(axis), True))
    return ops.mean(ops.mul(centered, centered), _axis(axis), keepdims)


def std(x, axis=None, keepdims=False) -> Tensor:
    """√var(x)."""
    return ops.sqrt(var(x, axis, keepdims))


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    return ops.logsumexp(_float(x), _axis(axis), keepdims)


def average(x, axis=None, weights=None) -> Tensor:
    """Σ w x / Σ w along ``axis`` (weights 1-D along that axis, or shaped like x); the plain mean without weights."""
    x = _float(x)
    if weights is None:
        return ops.mean(x, axis)
    w = ops.cast(convert_to_tensor(weights), x.dtype)
    if w.ndim == 1 and x.ndim > 1 and axis is not None:
        shape = [1] * x.ndim
        shape[axis] = w.shape[0]
        w = ops.reshape(w, shape)
    return ops.div(ops.sum(ops.mul(x, w), axis), ops.sum(ops.broadcast_to(w, x.shape), axis))


def _arg(fn, x, axis, keepdims):
    x = convert_to_tensor(x).data
    if axis is None:
        i = fn(x.reshape(-1))
        return _const(backend.xp.asarray(i, "int32").reshape((1,) * x.ndim if keepdims else ()))
    return _const(fn(x, axis=axis, keepdims=keepdims).astype("int32"))


def argmax(x, axis=None, keepdims=False) -> Tensor:
    """Index of the largest value (int32; an index has no gradient)."""
    return _arg(backend.xp.argmax, x, axis, keepdims)


def argmin(x, axis=None, keepdims=False) -> Tensor:
    """Index of the smallest value (int32; an index has no gradient)."""
    return _arg(backend.xp.argmin, x, axis, keepdims)


def any(x, axis=None, keepdims=False) -> Tensor:
    """A boolean constant (no gradient)."""
    return _const(backend.xp.any(convert_to_tensor(x).data, axis=_axis(axis), keepdims=keepdims))


def all(x, axis=None, keepdims=False) -> Tensor:
    """A boolean constant (no gradient)."""
    return _const(backend.xp.all(convert_to_tensor(x).data, axis=_axis(axis), keepdims=keepdims))


def count_nonzero(x, axis=None) -> Tensor:
    """How many entries are not 0 (an int constant)."""
    return _const(backend.xp.asarray(backend.xp.count_nonzero(convert_to_tensor(x).data, axis=_axis(axis)),
                                     "int32"))


def _scan_dtype(x, dtype):
    x = convert_to_tensor(x)
    if dtype is not None:
        return ops.cast(x, standardize_dtype(dtype))
    return ops.cast(x, "int32") if x.dtype.kind == "b" else x


def cumsum(x, axis=None, dtype=None) -> Tensor:
    return mops.cumsum(_scan_dtype(x, dtype), axis)


def cumprod(x, axis=None, dtype=None) -> Tensor:
    return mops.cumprod(_scan_dtype(x, dtype), axis)


def ptp(x, axis=None, keepdims=False) -> Tensor:
    """max - min ("peak to peak")."""
    return ops.sub(max(x, axis, keepdims), min(x, axis, keepdims))


def median(x, axis=None, keepdims=False) -> Tensor:
    """The middle of the sorted values (the mean of the two middle ones for an even count); the gradient
    goes to the middle element(s), as through a sort."""
    x = _float(x)
    if axis is None:
        y = median(ops.reshape(x, (-1,)), 0)
        return ops.reshape(y, (1,) * x.ndim) if keepdims else y
    axis = axis % x.ndim
    s = ops.transpose(sort(x, axis), [i for i in range(x.ndim) if i != axis] + [axis])
    n = x.shape[axis]
    mid = s[..., n // 2] if n % 2 else ops.mul(ops.add(s[..., n // 2 - 1], s[..., n // 2]), 0.5)
    return ops.expand_dims(mid, axis) if keepdims else mid


# ---------------------------------------------------------------- NaN-ignoring reductions
def _without_nan(x, fill):
    x = _float(x)
    return ops.where(backend.xp.isnan(x.data), fill, x), backend.xp.isnan(x.data)


def nansum(x, axis=None, keepdims=False) -> Tensor:
    """sum with NaN counted as 0."""
    return ops.sum(_without_nan(x, 0.0)[0], _axis(axis), keepdims)


def nanmean(x, axis=None, keepdims=False) -> Tensor:
    """mean over the entries that are not NaN."""
    y, nan = _without_nan(x, 0.0)
    count = (~nan).sum(axis=_axis(axis), keepdims=keepdims).astype(y.dtype)
    return ops.div(ops.sum(y, _axis(axis), keepdims), Tensor._wrap(count, False))


def nanvar(x, axis=None, keepdims=False) -> Tensor:
    y, nan = _without_nan(x, 0.0)
    mu = nanmean(x, axis, True)
    sq = ops.where(nan, 0.0, ops.square(ops.sub(y, mu)))
    count = (~nan).sum(axis=_axis(axis), keepdims=keepdims).astype(y.dtype)
    return ops.div(ops.sum(sq, _axis(axis), keepdims), Tensor._wrap(count, False))


def nanstd(x, axis=None, keepdims=False) -> Tensor:
    return ops.sqrt(nanvar(x, axis, keepdims))


def nanmax(x, axis=None, keepdims=False) -> Tensor:
    return ops.max(_without_nan(x, -float("inf"))[0], _axis(axis), keepdims)


def nanmin(x, axis=None, keepdims=False) -> Tensor:
    return ops.min(_without_nan(x, float("inf"))[0], _axis(axis), keepdims)


def nanprod(x, axis=None, keepdims=False) -> Tensor:
    return mops.prod(_without_nan(x, 1.0)[0], axis=_axis(axis), keepdims=keepdims)


def nancumsum(x, axis=None, dtype=None) -> Tensor:
    return cumsum(_without_nan(_scan_dtype(x, dtype), 0.0)[0], axis)


def nancumprod(x, axis=None, dtype=None) -> Tensor:
    return cumprod(_without_nan(_scan_dtype(x, dtype), 1.0)[0], axis)


def nanargmax(x, axis=None, keepdims=False) -> Tensor:
    """argmax ignoring NaN (an int32 constant)."""
    return argmax(_without_nan(x, -float("inf"))[0], axis, keepdims)


def nanargmin(x, axis=None, keepdims=False) -> Tensor:
    """argmin ignoring NaN (an int32 constant)."""
    return argmin(_without_nan(x, float("inf"))[0], axis, keepdims)


# ---------------------------------------------------------------- order statistics
def quantile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """The q-th quantile(s) (q in [0, 1]) of the sorted values, interpolated as NumPy's ``method``
    ('linear', 'lower', 'higher', 'nearest', 'midpoint'); differentiable through the sort."""
    x = _float(x)
    if axis is None:
        flat = quantile(ops.reshape(x, (-1,)), q, 0, method)
        return ops.reshape(flat, tuple(flat.shape) + (1,) * x.ndim) if keepdims else flat
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(a % x.ndim for a in axes)
    rest = [i for i in range(x.ndim) if i not in axes]
    moved = ops.reshape(ops.transpose(x, rest + list(axes)), [x.shape[i] for i in rest] + [-1])
    s = sort(moved, -1)
    n = s.shape[-1]
    qs = backend.xp.asarray(q.data if isinstance(q, Tensor) else q, "float64")
    pos = qs.reshape(-1) * (n - 1)
    lo = backend.xp.floor(pos).astype("int64")
    hi = backend.xp.minimum(lo + 1, n - 1)
    frac = pos - lo
    if method == "lower":
        hi, frac = lo, frac * 0
    elif method == "higher":
        lo = hi = backend.xp.ceil(pos).astype("int64")
    elif method == "nearest":
        lo = hi = backend.xp.round(pos).astype("int64")
    elif method == "midpoint":
        frac = backend.xp.where(frac > 0, 0.5, 0.0)
    elif method != "linear":
        raise ValueError(f"quantile: unknown method {method!r}; use 'linear', 'lower', 'higher', 'nearest' or "
                         "'midpoint'.")
    w = Tensor._wrap(frac.astype(x.dtype), False)
    y = ops.add(ops.mul(s[..., lo], ops.sub(1.0, w)), ops.mul(s[..., hi], w))      # (..., len(q))
    if keepdims:
        shape = [1 if i in axes else n_ for i, n_ in enumerate(x.shape)]
        y = ops.reshape(ops.transpose(y, [y.ndim - 1] + list(range(y.ndim - 1))), (len(pos), *shape))
    else:
        y = ops.transpose(y, [y.ndim - 1] + list(range(y.ndim - 1)))
    return y if qs.ndim else ops.reshape(y, y.shape[1:])


def percentile(x, q, axis=None, method="linear", keepdims=False) -> Tensor:
    """quantile(x, q / 100)."""
    return quantile(x, backend.xp.asarray(q.data if isinstance(q, Tensor) else q, "float64") / 100, axis, method,
                    keepdims)


def trapezoid(y, x=None, dx=1.0, axis=-1) -> Tensor:
    """∫ y by the trapezoid rule along ``axis``: Σ (y_i + y_{i+1}) / 2 · Δx_i."""
    y = _float(y)
    axis = axis % y.ndim
    n = y.shape[axis]
    first = (slice(None),) * axis + (slice(1, None),)
    last = (slice(None),) * axis + (slice(None, n - 1),)
    mid = ops.mul(ops.add(y[first], y[last]), 0.5)
    if x is None:
        return ops.mul(ops.sum(mid, axis), float(dx))
    xs = ops.cast(convert_to_tensor(x), y.dtype)
    if xs.ndim == 1:
        d = ops.sub(xs[1:], xs[:-1])
        shape = [1] * y.ndim
        shape[axis] = n - 1
        d = ops.reshape(d, shape)
    else:
        d = ops.sub(xs[first], xs[last])
    return ops.sum(ops.mul(mid, d), axis)
