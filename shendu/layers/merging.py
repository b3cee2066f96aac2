"""Layers that combine several inputs into one: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""
from __future__ import annotations

from shendu import backend, ops
from shendu.layers.base import Layer
from shendu.tensor import Tensor


class Merge(Layer):
    """Base: check the inputs are a list of at least two tensors, then fold them with ``_merge``."""

    min_inputs, max_inputs = 2, None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check(self, inputs):
        """``inputs`` is the list of tensors (call) or of their shapes (build); a lone tensor or shape is wrong."""
        single = not isinstance(inputs, (list, tuple)) or any(s is None or isinstance(s, int) for s in inputs)
        count = 1 if single else len(inputs)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            need = "exactly" if self.max_inputs == self.min_inputs else "at least"
            got = "a single tensor" if single else f"{count} tensor{'s' if count != 1 else ''}"
            raise ValueError(f"{type(self).__name__} layer '{self.name}' must be called on a list of {need} "
                             f"{self.min_inputs} tensors, e.g. {type(self).__name__}()([x1, x2]); got {got}.")

    def build(self, input_shape):
        self._check(input_shape)
        self.built = True

    def call(self, inputs):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return out

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out


class Add(Merge):
    """y = x1 + x2 + ..."""
    def _merge(self, a, b):
        return a + b


class Subtract(Merge):
    """y = x1 - x2"""
    max_inputs = 2

    def _merge(self, a, b):
        return a - b


class Multiply(Merge):
    """y = x1 * x2 * ... (elementwise)"""
    def _merge(self, a, b):
        return a * b


class Maximum(Merge):
    def _merge(self, a, b):
        return ops.maximum(a, b)


class Minimum(Merge):
    def _merge(self, a, b):
        return ops.minimum(a, b)


class Average(Merge):
    """y = (x1 + x2 + ...) / n"""
    def call(self, inputs):
        return super().call(inputs) * (1.0 / len(inputs))

    def _merge(self, a, b):
        return a + b


class Concatenate(Merge):
    """y = [x1, x2, ...] joined along ``axis`` (the other axes must agree)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, input_shape):
        self._check(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) > 1:
            raise ValueError(f"Concatenate layer '{self.name}' needs inputs of the same rank, got shapes {input_shape}.")
        axis = self.axis % len(input_shape[0])
        for s in input_shape[1:]:
            if any(a is not None and b is not None and a != b
                   for i, (a, b) in enumerate(zip(input_shape[0], s)) if i != axis):
                raise ValueError(f"Concatenate layer '{self.name}' along axis {self.axis} needs the other axes to "
                                 f"match, got shapes {input_shape}.")
        self.built = True

    def call(self, inputs):
        self._check(inputs)
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        xp = backend.xp
        # each input's mask widened to the input's shape (no mask: all kept), joined as the inputs are,
        # then a position is kept if any of its features is (Keras's rule)
        masks = []
        for x, m in zip(inputs, mask):
            m = xp.ones(x.shape, bool) if m is None else backend.asarray(m.data if isinstance(m, Tensor) else m)
            masks.append(xp.broadcast_to(m[..., None], x.shape) if m.ndim < x.ndim else m)
        return xp.concatenate(masks, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)
