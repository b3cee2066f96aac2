"""``Variable``: TensorFlow's mutable tensor (``tf.Variable``), a Tensor whose value can be replaced in place.

A Variable is a Tensor (every op takes it) that is a leaf of the graph: ``trainable=True`` (the default,
for float values) makes it require gradients, so a ``GradientTape`` watches it and an optimizer can
update it. ``assign``, ``assign_add`` and ``assign_sub`` replace its value; they are not recorded by
autodiff, as in TensorFlow. Assigned to an attribute of a Layer, it becomes one of the layer's weights.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu.tensor import Tensor


class Variable(Tensor):
    """A named, mutable Tensor: ``v = Variable(np.zeros(3)); v.assign_add([1, 2, 3])``."""

    def __init__(self, initial_value=None, trainable=None, validate_shape=True, caching_device=None, name=None,
                 variable_def=None, dtype=None, import_scope=None, constraint=None, synchronization=None,
                 aggregation=None, shape=None, experimental_enable_variable_lifting=True):
        if initial_value is None:
            raise ValueError("Variable needs an initial_value (an array, a number, a Tensor, or a function "
                             "returning one).")
        if variable_def is not None or import_scope is not None:
            raise ValueError("Variable: variable_def and import_scope belong to TensorFlow 1 graphs, which shendu "
                             "does not have; pass initial_value.")
        if callable(initial_value):
            initial_value = initial_value()
        value = initial_value.data if isinstance(initial_value, Tensor) else initial_value
        array = backend.asarray(value, None if dtype is None else backend.xp.dtype(getattr(dtype, "name", dtype)))
        super().__init__(array.copy(), requires_grad=False, name=name or "Variable")
        if trainable is None:
            trainable = self.data.dtype.kind == "f"
        if trainable and self.data.dtype.kind != "f":
            raise ValueError(f"Variable: only float variables can be trainable, got dtype {self.data.dtype}; "
                             "pass trainable=False or a float initial_value.")
        self._shape_fixed = bool(validate_shape) and shape is None
        self.trainable = bool(trainable)
        self.constraint = constraint
        self.path = name

    # trainable is requires_grad under TensorFlow's name
    @property
    def trainable(self) -> bool:
        return self.requires_grad

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.requires_grad = bool(value) and self.data.dtype.kind == "f"

    def _new_value(self, value):
        array = value.data if isinstance(value, Tensor) else backend.asarray(value)
        array = backend.xp.array(array, dtype=self.data.dtype)       # a copy the caller cannot change
        if self._shape_fixed and array.shape != self.data.shape:
            raise ValueError(f"Variable '{self.name}' has shape {tuple(self.data.shape)} but the assigned value has "
                             f"shape {tuple(array.shape)}; create it with validate_shape=False to let its shape "
                             "change.")
        return array

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Replace the value (same shape and dtype); not recorded by autodiff. Returns the variable."""
        # a new array, not an in-place write: ops recorded earlier keep the values they saw
        self.data = self._new_value(value)
        return self if read_value else None

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """v ← v + delta."""
        return self.assign(self.data + self._new_value(delta), read_value=read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """v ← v - delta."""
        return self.assign(self.data - self._new_value(delta), read_value=read_value)

    def value(self) -> Tensor:
        """The current value as a Tensor that later assignments do not change."""
        return Tensor._wrap(self.data, False)

    read_value = value

    def numpy(self) -> np.ndarray:
        """The value as a NumPy array of its own (a copy)."""
        return np.array(backend.to_numpy(self.data))

    def get_shape(self) -> tuple:
        return tuple(self.data.shape)

    def __repr__(self):
        values = np.array2string(self.numpy(), separator=", ")
        return f"<Variable '{self.name}' shape={tuple(self.shape)} dtype={self.dtype.name}, numpy={values}>"

    __hash__ = Tensor.__hash__
