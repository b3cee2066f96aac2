"""TensorFlow's top-level names that Keras code uses beside ``tf.keras``, so ``import shendu as tf`` runs it:
``tf.constant``, ``tf.Variable``, ``tf.reduce_sum``, ``tf.concat``, ``tf.one_hot``, ``tf.clip_by_value``, ...
with TensorFlow's argument names and defaults. Adapters only: the math is in ``shendu.numpy_api``,
``shendu.nn_api`` and ``shendu.ops``. ``tf.math``, ``tf.nn`` and ``tf.linalg`` are the modules beside this one.
"""
from __future__ import annotations

import builtins
import numbers

from shendu import backend, ops
from shendu import numpy_api as np_api
from shendu.nn_api import one_hot as _one_hot
from shendu.numpy_api.creation import convert_to_tensor as _to_tensor
from shendu.numpy_api.creation import standardize_dtype
from shendu.tape import GradientTape, function  # noqa: F401
from shendu.tensor import Tensor
from shendu.tf_api.dtypes import *  # noqa: F401,F403
from shendu.tf_api.dtypes import __all__ as _dtype_names
from shendu.tf_api.reductions import (argmax, argmin, cumprod, cumsum, reduce_all, reduce_any,  # noqa: F401
                                      reduce_euclidean_norm, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
                                      reduce_prod, reduce_std, reduce_sum, reduce_variance)
from shendu.tf_api.symbolic import accept_symbolic_all as _accept_symbolic_all
from shendu.variable import Variable

newaxis = None


def _dtype(dtype):
    return None if dtype is None else standardize_dtype(dtype)


def constant(value, dtype=None, shape=None, name=None) -> Tensor:
    """A constant Tensor (Python floats become float32, ints int32, as in TensorFlow); ``shape`` reshapes or
    broadcasts a scalar."""
    t = _to_tensor(value, _dtype(dtype))
    if shape is not None:
        shape = tuple(int(n) for n in shape)
        t = Tensor._wrap(backend.xp.broadcast_to(t.data, shape).copy() if t.size == 1 else t.data.reshape(shape),
                         False)
    return t


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None) -> Tensor:
    return _to_tensor(value, _dtype(dtype if dtype is not None else None))


def is_tensor(x) -> builtins.bool:
    return isinstance(x, Tensor)


def executing_eagerly() -> builtins.bool:
    """Always True: shendu runs every op as it is called."""
    return True


# ---------------------------------------------------------------- creation
def ones(shape, dtype=float32, name=None, layout=None) -> Tensor:  # noqa: F405
    return np_api.ones(shape, dtype)


def zeros(shape, dtype=float32, name=None, layout=None) -> Tensor:  # noqa: F405
    return np_api.zeros(shape, dtype)


def ones_like(input, dtype=None, name=None, layout=None) -> Tensor:
    return np_api.ones_like(input, dtype)


def zeros_like(input, dtype=None, name=None, layout=None) -> Tensor:
    return np_api.zeros_like(input, dtype)


def fill(dims, value, name=None, layout=None) -> Tensor:
    return np_api.full(dims, value, _to_tensor(value).dtype)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=float32, name=None) -> Tensor:  # noqa: F405
    y = np_api.eye(num_rows, num_columns, dtype=dtype)
    if batch_shape is not None:
        y = np_api.broadcast_to(y, tuple(batch_shape) + tuple(y.shape))
    return y


def linspace(start, stop, num, name=None, axis=0) -> Tensor:
    return np_api.linspace(start, stop, num, axis=axis)


def range(start, limit=None, delta=1, dtype=None, name=None) -> Tensor:
    """start, start + delta, ... below limit; ``range(n)`` is 0..n-1 (int32 for ints, float32 for floats)."""
    return np_api.arange(start, limit, delta, dtype)


def sequence_mask(lengths, maxlen=None, dtype=bool, name=None) -> Tensor:  # noqa: F405
    """mask[..., j] = j < lengths[...]."""
    n = _to_tensor(lengths).data
    maxlen = int(n.max()) if maxlen is None else int(maxlen)
    return Tensor._wrap((backend.xp.arange(maxlen) < n[..., None]).astype(standardize_dtype(dtype)), False)


# ---------------------------------------------------------------- shapes
def rank(input, name=None) -> Tensor:
    return Tensor._wrap(backend.xp.asarray(_to_tensor(input).ndim, "int32"), False)


def size(input, name=None, out_type=int32) -> Tensor:  # noqa: F405
    return Tensor._wrap(backend.xp.asarray(_to_tensor(input).size, standardize_dtype(out_type)), False)


def reshape(tensor, shape, name=None) -> Tensor:
    return np_api.reshape(tensor, shape)


def transpose(a, perm=None, conjugate=False, name=None) -> Tensor:
    return np_api.transpose(a, perm)


def expand_dims(input, axis, name=None) -> Tensor:
    return np_api.expand_dims(input, axis)


def squeeze(input, axis=None, name=None) -> Tensor:
    return np_api.squeeze(input, axis)


def concat(values, axis, name="concat") -> Tensor:
    return np_api.concatenate(values, axis)


def stack(values, axis=0, name="stack") -> Tensor:
    return np_api.stack(values, axis)


def unstack(value, num=None, axis=0, name="unstack") -> list:
    return np_api.unstack(value, num, axis)


def split(value, num_or_size_splits, axis=0, num=None, name="split") -> list:
    """``num_or_size_splits`` equal pieces (an int) or pieces of the given sizes (a list; one -1 takes the rest)."""
    x = _to_tensor(value)
    if isinstance(num_or_size_splits, numbers.Integral):
        return np_api.split(x, int(num_or_size_splits), axis)
    sizes = [int(s) for s in (num_or_size_splits.numpy() if isinstance(num_or_size_splits, Tensor)
                              else num_or_size_splits)]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = x.shape[axis] - builtins.sum(s for s in sizes if s != -1)
    if builtins.sum(sizes) != x.shape[axis]:
        raise ValueError(f"split: sizes {sizes} add up to {builtins.sum(sizes)}, but axis {axis} has "
                         f"{x.shape[axis]} entries.")
    cuts, total = [], 0
    for s in sizes[:-1]:
        total += s
        cuts.append(total)
    return np_api.split(x, cuts, axis)


def tile(input, multiples, name=None) -> Tensor:
    return np_api.tile(input, [int(m) for m in (multiples.numpy() if isinstance(multiples, Tensor) else multiples)])


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None) -> Tensor:
    """Pad by ``paddings`` [[before, after], ...]; mode 'CONSTANT', 'REFLECT' or 'SYMMETRIC'."""
    mode = mode.lower()
    return np_api.pad(tensor, paddings, mode, constant_values if mode == "constant" else None)


def reverse(tensor, axis, name=None) -> Tensor:
    return np_api.flip(tensor, tuple(axis) if not isinstance(axis, numbers.Integral) else axis)


def broadcast_to(input, shape, name=None) -> Tensor:
    return np_api.broadcast_to(input, shape)


def identity(input, name=None) -> Tensor:
    return ops.add(_to_tensor(input), 0)


def stop_gradient(input, name=None) -> Tensor:
    return np_api.stop_gradient(input)


# ---------------------------------------------------------------- indexing
def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None) -> Tensor:
    """params' slices at ``indices`` along ``axis`` (0 by default); batch_dims leading axes are matched."""
    if batch_dims:
        x, index = _to_tensor(params), _to_tensor(indices).data
        axis = batch_dims if axis is None else axis
        if batch_dims != 1 or axis != 1:
            raise ValueError("gather: shendu supports batch_dims=0, or batch_dims=1 with axis=1.")
        rows = backend.xp.arange(x.shape[0]).reshape((-1,) + (1,) * (index.ndim - 1))
        return ops.getitem(x, (rows, index))
    return np_api.take(params, indices, 0 if axis is None else axis)


def gather_nd(params, indices, batch_dims=0, name=None) -> Tensor:
    """params[indices[..., 0], indices[..., 1], ...]: each innermost row of ``indices`` addresses leading axes."""
    if batch_dims:
        raise ValueError("gather_nd: shendu supports batch_dims=0 only; add the batch index as the first column.")
    index = _to_tensor(indices).data
    return ops.getitem(_to_tensor(params), tuple(index[..., k] for k in builtins.range(index.shape[-1])))


def boolean_mask(tensor, mask, axis=None, name="boolean_mask") -> Tensor:
    """The entries (or slices, for a mask over the leading axes) where ``mask`` holds."""
    m = _to_tensor(mask).data.astype(builtins.bool)
    start = 0 if axis is None else int(axis)
    x = _to_tensor(tensor)
    where = backend.xp.nonzero(m)
    return ops.getitem(x, (builtins.slice(None),) * start + tuple(where))


def where(condition, x=None, y=None, name=None):
    """x where ``condition`` holds, else y; with neither, the (n, rank) int64 indices where it holds."""
    if x is None and y is None:
        return Tensor._wrap(backend.xp.argwhere(_to_tensor(condition).data).astype("int64"), False)
    return np_api.where(condition, x, y)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None) -> Tensor:
    """Labels to one-hot vectors: ``on_value`` (1) at the label, ``off_value`` (0) elsewhere."""
    if dtype is None:
        values = [v for v in (on_value, off_value) if v is not None]
        dtype = _to_tensor(values[0]).dtype if values else float32  # noqa: F405
    hot = _one_hot(indices, depth, -1 if axis is None else axis, dtype)
    on = 1 if on_value is None else on_value
    off = 0 if off_value is None else off_value
    if on == 1 and off == 0:
        return hot
    return Tensor._wrap(backend.xp.where(hot.data.astype(builtins.bool), on, off).astype(hot.dtype), False)


# ---------------------------------------------------------------- math under its TensorFlow names
def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False, a_is_sparse=False,
           b_is_sparse=False, output_type=None, grad_a=False, grad_b=False, name=None) -> Tensor:
    a, b = _to_tensor(a), _to_tensor(b)
    if transpose_a or adjoint_a:
        a = np_api.swapaxes(a, -1, -2)
    if transpose_b or adjoint_b:
        b = np_api.swapaxes(b, -1, -2)
    return np_api.matmul(a, b)


def clip_by_value(t, clip_value_min, clip_value_max, name=None) -> Tensor:
    return np_api.clip(t, clip_value_min, clip_value_max)


def clip_by_norm(t, clip_norm, axes=None, name=None) -> Tensor:
    """t scaled down so its L2 norm (over ``axes``) is at most clip_norm."""
    t = _to_tensor(t)
    norm = np_api.sqrt(np_api.sum(np_api.square(t), axes, True))
    return ops.div(ops.mul(t, clip_norm), ops.maximum(norm, float(clip_norm)))


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None) -> tuple:
    """(the tensors scaled by clip_norm / max(global norm, clip_norm), the global norm)."""
    ts = [None if t is None else _to_tensor(t) for t in t_list]
    if use_norm is None:
        total = builtins.sum(float((t.data.astype("float64") ** 2).sum()) for t in ts if t is not None)
        use_norm = total ** 0.5
    scale = float(clip_norm) / builtins.max(float(use_norm), float(clip_norm))
    return [None if t is None else ops.mul(t, scale) for t in ts], Tensor._wrap(
        backend.xp.asarray(use_norm, "float32"), False)


def sort(values, axis=-1, direction="ASCENDING", name=None) -> Tensor:
    y = np_api.sort(values, axis)
    return np_api.flip(y, axis) if direction == "DESCENDING" else y


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None) -> Tensor:
    x = _to_tensor(values)
    return np_api.argsort(ops.neg(x) if direction == "DESCENDING" else x, axis)


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None) -> Tensor:
    """The Euclidean norm of all entries (or along ``axis``), or ord 1, 2, inf, 'fro'."""
    return np_api.norm(tensor, None if ord in ("euclidean", "fro") else ord, axis, builtins.bool(keepdims))


def print(*inputs, **kwargs) -> None:  # noqa: A001 - tf.print
    """``tf.print``: prints tensors' values (shendu runs eagerly, so this is Python's print)."""
    kwargs.pop("output_stream", None)
    kwargs.pop("summarize", None)
    builtins.print(*[x.numpy() if isinstance(x, Tensor) else x for x in inputs], **kwargs)


# the elementwise ops TensorFlow also spells at the top level
from shendu.numpy_api import (add, cos, divide, equal, greater, greater_equal, less, less_equal,  # noqa: E402
                              logical_and, logical_not, logical_or, maximum, minimum, multiply, negative, not_equal,
                              sign, sin, sqrt, square, subtract, tan)
from shendu.numpy_api import ceil, einsum, exp, floor, round, tensordot  # noqa: E402
from shendu.numpy_api import cosh, saturate_cast, sinh, unravel_index  # noqa: E402
from shendu.tf_api.math import acos, acosh, asin, asinh, atan, atan2, atanh  # noqa: E402
from shendu.ops import sigmoid, tanh  # noqa: E402
from shendu.tf_api.math import add_n, log, pow, abs, scalar_mul, truediv  # noqa: E402


def cond(pred, true_fn=None, false_fn=None, name=None):
    return np_api.cond(pred, true_fn, false_fn)


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10, back_prop=True,
               swap_memory=False, maximum_iterations=None, name=None):
    return np_api.while_loop(cond, body, loop_vars, maximum_iterations)


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False, infer_shape=True,
           name=None, fn_output_signature=None):
    """fn applied to each slice of ``elems`` along its first axis, the results stacked (a Python loop)."""
    return np_api.map(fn, elems)


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    return np_api.map(fn, elems)


def get_static_value(tensor, partial=False):
    """The value as NumPy (shendu tensors always have one)."""
    return tensor.numpy() if isinstance(tensor, Tensor) else tensor


from shendu.tf_api.more import (as_dtype, constant_initializer, ensure_shape, foldl, foldr,  # noqa: E402,F401
                                get_logger, identity_n, inside_function, is_symbolic_tensor, meshgrid,
                                ones_initializer, random_normal_initializer, random_uniform_initializer, realdiv,
                                repeat, roll, scan, scatter_nd, searchsorted, shape_n, slice, switch_case,
                                tensor_scatter_nd_add, tensor_scatter_nd_sub, tensor_scatter_nd_update, timestamp,
                                truncatediv, truncatemod, unique, unique_with_counts, zeros_initializer)

# everything defined or imported above except modules and helpers: what `import shendu as tf` adds
__all__ = [name for name, value in list(globals().items()) if not name.startswith("_")
           and type(value).__name__ != "module" and name not in ("annotations", "standardize_dtype")]
# on keras.Input tensors (functional code) each function becomes a graph node, as tf.keras 2 does
_FACTS = ("function", "print", "is_tensor", "is_symbolic_tensor", "get_static_value", "executing_eagerly",
          "inside_function", "get_logger", "timestamp", "as_dtype")
_accept_symbolic_all(globals(), [name for name in __all__ if name not in _FACTS])
