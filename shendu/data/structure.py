"""Elements of a dataset: nested tuples and dicts of NumPy arrays, and ``TensorSpec``, their type.

A tuple or a dict is structure; everything else (an array, a list, a number, a string, a Tensor)
is one leaf, converted to a NumPy array the way TensorFlow converts it: Python floats become
float32 and Python ints int32, NumPy arrays keep their dtype, strings stay Python/NumPy strings
(TensorFlow would give bytes).
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu.tensor import Tensor


def map_structure(fn, structure):
    """The same tuples and dicts with ``fn`` applied to every leaf (a list counts as one leaf)."""
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def leaves(structure) -> list:
    if isinstance(structure, tuple):
        return [leaf for s in structure for leaf in leaves(s)]
    if isinstance(structure, dict):
        return [leaf for v in structure.values() for leaf in leaves(v)]
    return [structure]


def map_many(fn, structures):
    """``fn(*leaves)`` across structures of the same shape (zip of the leaves)."""
    first = structures[0]
    if isinstance(first, tuple):
        return tuple(map_many(fn, [s[i] for s in structures]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: map_many(fn, [s[k] for s in structures]) for k in first}
    return fn(*structures)


def same_structure(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(
            same_structure(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            same_structure(a[k], b[k]) for k in a)
    return True


def to_array(value, dtype=None) -> np.ndarray:
    """One leaf as a NumPy array, with TensorFlow's defaults for Python numbers (float32, int32)."""
    if isinstance(value, Tensor):
        array = value.numpy()
    elif isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, np.generic):
        array = np.asarray(value)
    else:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype == np.int64 and dtype is None:
            array = array.astype(np.int32)
        elif array.dtype == object:
            raise TypeError(f"Cannot turn {str(value)[:80]!r} into one array: its items have different lengths or "
                            "types. Pad sequences to one length (keras.utils.pad_sequences) or use from_generator.")
    return array if dtype is None else array.astype(dtype, copy=False)


def is_text(array: np.ndarray) -> bool:
    return array.dtype.kind in "USO"


def to_user(array: np.ndarray):
    """What iteration and map functions see: a Tensor for numbers, the NumPy array itself for strings."""
    if is_text(array):
        return array
    return Tensor._wrap(backend.xp.asarray(array), False)


def from_user(value):
    """A map function's result back into the element's form: tuples and dicts kept, lists become tuples."""
    if isinstance(value, list) and value and all(isinstance(v, (Tensor, np.ndarray, tuple, dict)) for v in value):
        value = tuple(value)
    if isinstance(value, tuple):
        return tuple(from_user(v) for v in value)
    if isinstance(value, dict):
        return {k: from_user(v) for k, v in value.items()}
    return to_array(value)


def as_dtype(dtype) -> np.dtype:
    """'float32', np.float32, tf.float32-like objects with a ``name``, or 'string' (NumPy's str)."""
    if not isinstance(dtype, (str, type, np.dtype)):
        dtype = getattr(dtype, "name", dtype)
    if dtype in ("string", "str", bytes):
        return np.dtype(str)
    return np.dtype(dtype)


class TensorSpec:
    """The type of one leaf of an element: ``shape`` (None for an unknown size or rank) and ``dtype``."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = as_dtype(dtype)
        self.name = name

    @classmethod
    def from_array(cls, array: np.ndarray, batched: bool = False) -> "TensorSpec":
        shape = array.shape[1:] if batched else array.shape
        return cls(shape, array.dtype)

    def is_compatible_with(self, array) -> bool:
        shape = tuple(np.shape(array))
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(e is None or e == g for e, g in zip(self.shape, shape))

    def most_specific_compatible(self, other: "TensorSpec") -> "TensorSpec":
        if self.shape is None or other.shape is None or len(self.shape) != len(other.shape):
            shape = None
        else:
            shape = tuple(a if a == b else None for a, b in zip(self.shape, other.shape))
        return TensorSpec(shape, self.dtype if self.dtype == other.dtype else np.dtype(object))

    def __eq__(self, other):
        return isinstance(other, TensorSpec) and (self.shape, self.dtype, self.name) == (other.shape, other.dtype,
                                                                                       other.name)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.name))

    def __repr__(self):
        shape = "<unknown>" if self.shape is None else str(self.shape)
        dtype = "string" if is_text(np.empty(0, self.dtype)) else self.dtype.name
        return f"TensorSpec(shape={shape}, dtype={dtype}, name={self.name!r})"
