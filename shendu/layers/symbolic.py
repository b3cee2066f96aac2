"""Symbolic tensors for the functional API: ``Input(shape)`` and the layer calls made on it.

A ``KerasTensor`` has a shape (batch as None) and a dtype but no values; calling a layer on it
records a ``Node`` (the layer, its symbolic inputs, its call arguments) so that
``Model(inputs, outputs)`` can later replay the graph on real tensors.
"""
from __future__ import annotations

import numbers
import re


class KerasTensor:
    """A placeholder for a batch of values: shape (None, ...) and dtype, plus the node that made it."""

    _mask_shape = None      # the shape of the mask a real tensor here would carry (see symbolic_masks.py)
    _mask_tensor = None

    def __init__(self, shape, dtype="float32", node=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = str(dtype)
        self.node = node
        self.index = index
        self.name = name

    ndim = property(lambda self: len(self.shape))

    @property
    def _keras_mask(self):
        """The mask as a symbolic bool tensor (``keras.backend.get_keras_mask``), or None when unmasked."""
        if self._mask_tensor is None and self._mask_shape is not None:
            from shendu.layers.core import OutputMask     # deferred: layers build on this module
            self._mask_tensor = OutputMask(self._mask_shape)(self)
        return self._mask_tensor

    @_keras_mask.setter
    def _keras_mask(self, mask):
        self._mask_tensor = mask
        self._mask_shape = None if mask is None else tuple(mask.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        raise AttributeError(
            f"A symbolic KerasTensor (from Input or a layer applied to it) has no values, so "
            f"'{attr}' cannot be used on it. Wrap the computation in a layer (for example "
            f"keras.layers.Lambda) so it runs on real tensors when the model is called.")

    # arithmetic on symbolic tensors becomes a Lambda-like op node, so `x + y` works in functional code
    def _op(self, other, fn, name):
        from shendu.layers.core import TensorOp
        return TensorOp(fn, name)([self, other] if other is not None else [self])

    def __add__(self, other):
        return self._op(other, lambda a, b: a + b, "add")

    def __radd__(self, other):
        return self._op(other, lambda a, b: b + a, "add")

    def __sub__(self, other):
        return self._op(other, lambda a, b: a - b, "subtract")

    def __rsub__(self, other):
        return self._op(other, lambda a, b: b - a, "subtract")

    def __mul__(self, other):
        return self._op(other, lambda a, b: a * b, "multiply")

    def __rmul__(self, other):
        return self._op(other, lambda a, b: b * a, "multiply")

    def __truediv__(self, other):
        return self._op(other, lambda a, b: a / b, "divide")

    def __matmul__(self, other):
        return self._op(other, lambda a, b: a @ b, "matmul")

    def __neg__(self):
        return self._op(None, lambda a: -a, "negative")

    def __getitem__(self, index):
        from shendu.layers.core import TensorOp
        return TensorOp(lambda a: a[index], "get_item")([self])


class Node:
    """One call of a layer in a functional graph: ``outputs = layer(*args, **kwargs)``."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs

    @property
    def inputs(self):
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, KerasTensor)]


def flatten(structure):
    """Every leaf of nested lists, tuples and dicts, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    """The same nesting with ``fn`` applied to every leaf."""
    if isinstance(structure, list):
        return [map_structure(fn, s) for s in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def is_symbolic(structure) -> bool:
    return any(isinstance(t, KerasTensor) for t in flatten(structure))


# ---------------------------------------------------------------- shapes as structures

def is_shape(value) -> bool:
    """One shape: a tuple or list of ints and Nones, e.g. ``(None, 5, 8)`` (``()`` is a scalar's shape)."""
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool)) for d in value)


def map_shapes(fn, shapes):
    """``fn`` applied to every shape of a nested structure of shapes (a shape is a leaf, not a list)."""
    if shapes is None or is_shape(shapes):
        return fn(shapes)
    if isinstance(shapes, list):
        return [map_shapes(fn, s) for s in shapes]
    if isinstance(shapes, tuple):
        return tuple(map_shapes(fn, s) for s in shapes)
    if isinstance(shapes, dict):
        return {k: map_shapes(fn, v) for k, v in shapes.items()}
    return fn(shapes)


def flatten_shapes(shapes) -> list:
    """Every shape of a nested structure of shapes, in order."""
    out = []
    map_shapes(out.append, shapes)
    return out


def standardize_shape(shape) -> tuple | None:
    """A shape as a tuple of Python ints and Nones."""
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


def shape_str(shape) -> str:
    """``(None, 5, 8)`` as Python prints a tuple; the form every shendu error message uses."""
    return str(standardize_shape(shape))


# ---------------------------------------------------------------- dry runs (layers without a shape rule)

# sample sizes for unknown axes in a dry run: (batch, every other axis), two runs that differ in each
TRIAL_SIZES = ((2, 16), (3, 17))


def merge_shapes(first, second):
    """Two structures of shapes with every axis that differs between them replaced by None."""
    if is_shape(first) and is_shape(second) and len(first) == len(second):
        return tuple(a if a == b else None for a, b in zip(first, second))
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)) and len(first) == len(second):
        return type(first)(merge_shapes(a, b) for a, b in zip(first, second))
    return first


def trial_dtype(dtype: str) -> str:
    """Zeros for a dry run: a string input (no array of zeros exists for it) becomes empty strings."""
    return "U1" if dtype in ("string", "str") else dtype


def trial_shape(shape, batch: int, fill: int) -> tuple:
    """A symbolic shape with its unknown axes given sample sizes: ``batch`` for axis 0, ``fill`` elsewhere."""
    return tuple((batch if i == 0 else fill) if d is None else d for i, d in enumerate(shape))


def _message(error: Exception) -> str:
    return str(error.args[0]) if len(error.args) == 1 else str(error)


def without_trial_sizes(layer, error: Exception, pairs, second: Exception | None = None) -> Exception:
    """The dry run's error with each sample shape written back as the symbolic shape (None axes).

    ``second`` is the same failure with other sample sizes: every number that differs between the
    two messages came from the sample sizes (a count of values, a length) and becomes None too.
    """
    message = _message(error)
    if second is not None:
        message = _numbers_that_agree(message, _message(second))
    for trial, symbolic in pairs:
        message = message.replace(str(trial), shape_str(symbolic)).replace(str(list(trial)), str(list(symbolic)))
    shapes = ", ".join(shape_str(s) for _, s in pairs)
    message += (f" [in {type(layer).__name__} layer '{layer.name}' called on symbolic input(s) of shape {shapes}; "
                f"give the layer a compute_output_shape(input_shape) method (or Lambda an output_shape) so its "
                f"output shape is known without running it.]")
    try:
        new = type(error)(message)
    except Exception:          # an exception type that does not take one message
        new = ValueError(message)
    return new.with_traceback(error.__traceback__)


def _numbers_that_agree(first: str, second: str) -> str:
    """``first`` with each number that differs from its counterpart in ``second`` replaced by None
    (unchanged when the two messages differ in more than their numbers)."""
    a, b = re.split(r"(\d+)", first), re.split(r"(\d+)", second)
    if len(a) != len(b) or a[0::2] != b[0::2]:
        return first
    return "".join(x if i % 2 == 0 or x == y else "None" for i, (x, y) in enumerate(zip(a, b)))
