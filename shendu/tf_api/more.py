"""More of TensorFlow's top-level functions (``tf.unique``, ``tf.scatter_nd``, ``tf.tensor_scatter_nd_update``,
``tf.scan``, ``tf.foldl``, ``tf.slice``, ``tf.random_normal_initializer``, ...), adapters over ``shendu.numpy_api``."""
from __future__ import annotations

import builtins
import logging as _logging
import time as _time

import numpy as _np

from shendu import backend, ops
from shendu import initializers as _initializers
from shendu import numpy_api as np_api
from shendu.numpy_api.creation import convert_to_tensor as _to_tensor
from shendu.numpy_api.creation import standardize_dtype
from shendu.tensor import Tensor


def repeat(input, repeats, axis=None, name=None) -> Tensor:
    return np_api.repeat(input, repeats, axis)


def roll(input, shift, axis, name=None) -> Tensor:
    return np_api.roll(input, shift, axis)


def slice(input_, begin, size, name=None) -> Tensor:
    """The block starting at ``begin`` with ``size`` entries per axis (-1: to the end)."""
    x = _to_tensor(input_)
    size = [n - b if s == -1 else s for s, b, n in zip(size, begin, x.shape)]
    return np_api.slice(x, begin, size)


def _flat_updates(indices, updates):
    """TensorFlow's nd indices as one row per update, and the updates reshaped to match those rows."""
    index = _to_tensor(indices).data
    flat = index.reshape(-1, index.shape[-1])
    values = _to_tensor(updates)
    return flat, np_api.reshape(values, (flat.shape[0],) + tuple(values.shape[index.ndim - 1:]))


def scatter_nd(indices, updates, shape, name=None) -> Tensor:
    """zeros(shape) with ``updates`` added at ``indices`` (each innermost row addresses leading axes)."""
    return np_api.scatter(*_flat_updates(indices, updates), [int(n) for n in shape])


def _tensor_scatter(tensor, indices, updates, reduction):
    return np_api.scatter_update(tensor, *_flat_updates(indices, updates), reduction)


def tensor_scatter_nd_update(tensor, indices, updates, name=None) -> Tensor:
    return _tensor_scatter(tensor, indices, updates, None)


def tensor_scatter_nd_add(tensor, indices, updates, name=None) -> Tensor:
    return _tensor_scatter(tensor, indices, updates, "add")


def tensor_scatter_nd_sub(tensor, indices, updates, name=None) -> Tensor:
    return _tensor_scatter(tensor, indices, ops.neg(_to_tensor(updates)), "add")


def unique(x, out_idx=_np.int32, name=None) -> tuple:
    """(the distinct values in order of first appearance, each entry's index into them)."""
    values, first, inverse = backend.xp.unique(_to_tensor(x).data, return_index=True, return_inverse=True)
    order = backend.xp.argsort(first)
    rank = backend.xp.argsort(order)
    return (Tensor._wrap(values[order], False),
            Tensor._wrap(rank[inverse.reshape(-1)].astype(standardize_dtype(out_idx)), False))


def unique_with_counts(x, out_idx=_np.int32, name=None) -> tuple:
    y, idx = unique(x, out_idx)
    counts = backend.xp.bincount(idx.data, minlength=y.shape[0]).astype(idx.dtype)
    return y, idx, Tensor._wrap(counts, False)


def searchsorted(sorted_sequence, values, side="left", out_type=_np.int32, name=None) -> Tensor:
    seq, v = _to_tensor(sorted_sequence).data, _to_tensor(values).data
    if seq.ndim == 1:
        found = backend.xp.searchsorted(seq, v, side=side)
    else:           # one sorted row per leading index
        found = backend.xp.stack([backend.xp.searchsorted(s, w, side=side)
                                  for s, w in zip(seq.reshape(-1, seq.shape[-1]), v.reshape(-1, v.shape[-1]))])
        found = found.reshape(v.shape)
    return Tensor._wrap(found.astype(standardize_dtype(out_type)), False)


def meshgrid(*args, **kwargs) -> list:
    return np_api.meshgrid(*args, indexing=kwargs.get("indexing", "xy"))


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False,
         infer_shape=True, reverse=False, name=None):
    """acc = fn(acc, x) over the first axis of ``elems``; returns every acc, stacked (TensorFlow's scan)."""
    xs = _to_tensor(elems)
    steps = builtins.range(xs.shape[0] - 1, -1, -1) if reverse else builtins.range(xs.shape[0])
    acc, out = initializer, []
    for i in steps:
        acc = xs[i] if acc is None and not out else fn(acc, xs[i])
        out.append(acc)
    if reverse:
        out.reverse()
    return np_api.stack(out)


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, name=None):
    """fn(...fn(fn(initializer, x0), x1)..., xn); without an initializer it starts from x0."""
    xs = _to_tensor(elems)
    acc, start = (xs[0], 1) if initializer is None else (initializer, 0)
    for i in builtins.range(start, xs.shape[0]):
        acc = fn(acc, xs[i])
    return acc


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, name=None):
    """foldl from the last element backwards."""
    return foldl(fn, np_api.flip(_to_tensor(elems), 0), initializer)


def switch_case(branch_index, branch_fns, default=None, name=None):
    fns = dict(branch_fns) if isinstance(branch_fns, dict) else dict(enumerate(branch_fns))
    i = int(_to_tensor(branch_index).data)
    if i in fns:
        return fns[i]()
    return default() if default is not None else fns[builtins.max(fns)]()


def ensure_shape(x, shape, name=None) -> Tensor:
    """x, after checking its shape against ``shape`` (None matches any size)."""
    x = _to_tensor(x)
    want = tuple(shape)
    if len(want) != x.ndim or any(w is not None and w != n for w, n in zip(want, x.shape)):
        raise ValueError(f"ensure_shape: expected shape {want}, got {tuple(x.shape)}.")
    return x


def as_dtype(type_value):
    """TensorFlow's dtype as the NumPy type shendu uses (tf.as_dtype('float32') is numpy.float32)."""
    return standardize_dtype(type_value).type


def realdiv(x, y, name=None) -> Tensor:
    return np_api.divide(x, y)


def truncatediv(x, y, name=None) -> Tensor:
    """x / y rounded toward zero (a constant: piecewise flat)."""
    return np_api.trunc(np_api.divide(x, y))


def truncatemod(x, y, name=None) -> Tensor:
    return np_api.fmod(x, y)


def shape_n(input, out_type=_np.int32, name=None) -> list:
    return [Tensor._wrap(backend.xp.asarray(_to_tensor(x).shape, standardize_dtype(out_type)), False)
            for x in input]


def identity_n(input, name=None) -> list:
    return [ops.add(_to_tensor(x), 0) for x in input]


def timestamp(name=None) -> Tensor:
    """Seconds since the epoch, as a float64 scalar."""
    return Tensor._wrap(backend.xp.asarray(_time.time(), "float64"), False)


def get_logger():
    """The logger shendu's messages go to."""
    return _logging.getLogger("shendu")


def is_symbolic_tensor(tensor) -> builtins.bool:
    """True for the functional API's symbolic tensors (keras.Input and layers called on it)."""
    return type(tensor).__name__ == "KerasTensor"


def inside_function() -> builtins.bool:
    """False: shendu never traces a graph, even inside @tf.function."""
    return False


# TensorFlow's initializer spellings (tf.random_normal_initializer() in the Keras guide's first custom layer)
random_normal_initializer = _initializers.RandomNormal
random_uniform_initializer = _initializers.RandomUniform
zeros_initializer = _initializers.Zeros
ones_initializer = _initializers.Ones
constant_initializer = _initializers.Constant
