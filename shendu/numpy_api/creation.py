"""Making tensors with NumPy's (and ``keras.ops``'s) spellings: convert_to_tensor, arange, zeros, eye, ...

New tensors hold constants: none of these records a gradient (``convert_to_tensor`` of a Tensor returns
it unchanged, gradient history and all).
"""
from __future__ import annotations

import numbers

import numpy as np

from shendu import backend
from shendu.ops.elementwise import cast as _cast
from shendu.tensor import Tensor


def standardize_dtype(dtype):
    """A NumPy dtype from a name ('float32'), a NumPy type or dtype, or None (the default float type)."""
    if dtype is None:
        return backend.xp.dtype(backend.floatx)
    if isinstance(dtype, Tensor):
        return dtype.dtype
    name = getattr(dtype, "name", None) if not isinstance(dtype, (str, type, np.dtype)) else None
    try:
        return backend.xp.dtype(name or dtype)
    except TypeError:
        raise TypeError(f"Unknown dtype {dtype!r}; expected a name such as 'float32', 'int32' or 'bool'.") from None


def _const(array) -> Tensor:
    return Tensor._wrap(array, False)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None) -> Tensor:
    """``x`` as a Tensor (a Tensor is returned as is, or cast when ``dtype`` differs).

    Python floats become float32 and Python ints int32, as in Keras 3; NumPy arrays keep their dtype.
    """
    if sparse or ragged:
        raise ValueError("convert_to_tensor: shendu has no sparse or ragged tensors; pass a dense array "
                         "(for ragged rows, pad them with keras.utils.pad_sequences).")
    if isinstance(x, Tensor):
        return x if dtype is None else _cast(x, standardize_dtype(dtype))
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):      # a tensor of another framework
        x = x.numpy()
    if dtype is not None:
        return _const(backend.asarray(x, standardize_dtype(dtype)))
    array = backend.asarray(x)
    if not isinstance(x, (np.ndarray, np.generic, backend.xp.ndarray)) and array.dtype == np.int64:
        array = array.astype(np.int32)        # Python ints: int32, as Keras
    return _const(array)


def array(x, dtype=None) -> Tensor:
    return convert_to_tensor(x, dtype)


def convert_to_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array (a copy: changing it never changes a tensor)."""
    if isinstance(x, Tensor):
        return np.array(x.numpy())
    return np.array(x)


def copy(x) -> Tensor:
    """y = x (a new tensor; the gradient passes straight through)."""
    return convert_to_tensor(x) + 0


def _shape(shape) -> tuple:
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(n) for n in shape)


def zeros(shape, dtype=None) -> Tensor:
    return _const(backend.xp.zeros(_shape(shape), standardize_dtype(dtype)))


def ones(shape, dtype=None) -> Tensor:
    return _const(backend.xp.ones(_shape(shape), standardize_dtype(dtype)))


def empty(shape, dtype=None) -> Tensor:
    """A tensor of the given shape (shendu fills it with zeros, so nothing uninitialized leaks)."""
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None) -> Tensor:
    fill = convert_to_tensor(fill_value).data
    return _const(backend.xp.full(_shape(shape), fill, standardize_dtype(dtype)))


def _like_dtype(x, dtype):
    return convert_to_tensor(x).dtype if dtype is None else standardize_dtype(dtype)


def zeros_like(x, dtype=None) -> Tensor:
    return _const(backend.xp.zeros(convert_to_tensor(x).shape, _like_dtype(x, dtype)))


def ones_like(x, dtype=None) -> Tensor:
    return _const(backend.xp.ones(convert_to_tensor(x).shape, _like_dtype(x, dtype)))


def empty_like(x, dtype=None) -> Tensor:
    return zeros_like(x, dtype)


def full_like(x, fill_value, dtype=None) -> Tensor:
    fill = convert_to_tensor(fill_value).data
    return _const(backend.xp.full(convert_to_tensor(x).shape, fill, _like_dtype(x, dtype)))


def arange(start, stop=None, step=None, dtype=None) -> Tensor:
    """start, start + step, ... below stop; ``arange(n)`` is 0..n-1. Integers give int32, floats float32."""
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    values = [start, stop, step]
    if dtype is None:
        dtype = "int32" if all(isinstance(v, numbers.Integral) for v in values) else backend.floatx
    return _const(backend.xp.arange(start, stop, step).astype(standardize_dtype(dtype)))


def eye(N, M=None, k=0, dtype=None) -> Tensor:
    return _const(backend.xp.eye(int(N), None if M is None else int(M), int(k), dtype=standardize_dtype(dtype)))


def identity(n, dtype=None) -> Tensor:
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None) -> Tensor:
    """Ones on and below the k-th diagonal of an N x M matrix."""
    return _const(backend.xp.tri(int(N), None if M is None else int(M), int(k), dtype=standardize_dtype(dtype)))


def _value(v):
    return v.data if isinstance(v, Tensor) else v


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from start to stop (a constant: start and stop get no gradient)."""
    values, step = backend.xp.linspace(_value(start), _value(stop), int(num), endpoint=endpoint, retstep=True,
                                       axis=axis)
    out = _const(values.astype(standardize_dtype(dtype)))
    return (out, step) if retstep else out


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0) -> Tensor:
    values = backend.xp.logspace(_value(start), _value(stop), int(num), endpoint=endpoint, base=base, axis=axis)
    return _const(values.astype(standardize_dtype(dtype)))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0) -> Tensor:
    values = backend.xp.geomspace(_value(start), _value(stop), int(num), endpoint=endpoint, axis=axis)
    return _const(values.astype(standardize_dtype(dtype)))


def meshgrid(*x, indexing="xy") -> list:
    """Coordinate grids from 1-D tensors (constants)."""
    return [_const(g) for g in backend.xp.meshgrid(*[convert_to_tensor(v).data for v in x], indexing=indexing)]


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _symbolic(x) -> bool:
    """A symbolic tensor of the functional API (``keras.Input``): it has a shape and a dtype but no values."""
    return type(x).__name__ == "KerasTensor"


def dtype(x) -> str:
    """The dtype's name, e.g. 'float32'."""
    return str(x.dtype) if _symbolic(x) else convert_to_tensor(x).dtype.name


def shape(x) -> tuple:
    """The shape as a tuple of ints (None for the unknown axes of a symbolic tensor, such as its batch)."""
    if _symbolic(x):
        return tuple(x.shape)
    return tuple(int(n) for n in convert_to_tensor(x).shape)


def ndim(x) -> int:
    return len(x.shape) if _symbolic(x) else convert_to_tensor(x).ndim


def size(x) -> int:
    return int(convert_to_tensor(x).size)
