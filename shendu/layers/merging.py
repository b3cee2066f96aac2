"""Layers that combine several inputs into one: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""
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


_EPSILON = 1e-7        # Keras's backend.epsilon(): the smallest norm Dot(normalize=True) divides by


class Dot(Merge):
    """y[b, ...] = sum_k x1[b, ..., k, ...] * x2[b, ..., k, ...]: a dot product per sample along
    ``axes`` (Keras's ``batch_dot``). With ``normalize=True`` both inputs are first scaled to unit
    L2 norm along those axes, so y is the cosine similarity.

    Args:
        axes: an int (the same axis of both inputs) or a pair (axis of x1, axis of x2); never 0, the batch.
        normalize: L2-normalize both inputs along ``axes`` first: x / max(||x||, 1e-7).

    Shapes: x1 (batch, *a, d, *b) and x2 (batch, *c, d, *e) give (batch, *a, *b, *c, *e), or
    (batch, 1) when nothing else is left, e.g. Dot(axes=1) on two (batch, d) inputs.
    """

    min_inputs, max_inputs = 2, 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ValueError(f"Dot axes must be an int or a pair of ints (axis of the first input, axis of the "
                                 f"second), got {axes!r}.")
        elif not isinstance(axes, int):
            raise TypeError(f"Dot axes must be an int or a list of two ints, got {axes!r}.")
        self.axes = axes
        self.normalize = normalize

    def _pair(self, ranks):
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        pair = tuple(a % r for a, r in zip(axes, ranks))
        if 0 in pair:
            raise ValueError(f"Dot layer '{self.name}': axes {self.axes} name the batch axis 0; a dot product is "
                             f"taken per sample, so use axes >= 1 (or negative ones counted from the end).")
        return pair

    def build(self, input_shape):
        self._check(input_shape)
        s1, s2 = input_shape
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"Dot layer '{self.name}' needs inputs with a batch axis and at least one more, got "
                             f"shapes {tuple(s1)} and {tuple(s2)}.")
        a1, a2 = self._pair((len(s1), len(s2)))
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"Dot layer '{self.name}': axis {a1} of the first input ({s1[a1]}) and axis {a2} of the "
                             f"second ({s2[a2]}) must have the same size; full shapes {tuple(s1)} and {tuple(s2)}.")
        self.built = True

    def call(self, inputs):
        self._check(inputs)
        x, y = inputs
        a1, a2 = self._pair((x.ndim, y.ndim))
        if self.normalize:
            x = x / ops.maximum(ops.sqrt(ops.sum(x * x, axis=a1, keepdims=True)), _EPSILON)
            y = y / ops.maximum(ops.sqrt(ops.sum(y * y, axis=a2, keepdims=True)), _EPSILON)
        return batch_dot(x, y, (a1, a2))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def batch_dot(x, y, axes):
    """Contract axis ``axes[0]`` of x with axis ``axes[1]`` of y, sample by sample, as one batched matmul:
    x's axis moves last and the rest fold to (batch, m, d); y's axis moves to 1 and the rest fold to
    (batch, d, n); (batch, m, n) is then unfolded to the remaining axes of x, then of y."""
    a1, a2 = axes
    batch, d = x.shape[0], x.shape[a1]
    x_rest = [i for i in range(1, x.ndim) if i != a1]
    y_rest = [i for i in range(1, y.ndim) if i != a2]
    xm = ops.reshape(ops.transpose(x, [0] + x_rest + [a1]), (batch, -1, d))
    ym = ops.reshape(ops.transpose(y, [0, a2] + y_rest), (batch, d, -1))
    out_shape = tuple(x.shape[i] for i in x_rest) + tuple(y.shape[i] for i in y_rest)
    return ops.reshape(ops.matmul(xm, ym), (batch,) + (out_shape or (1,)))


def dot(inputs, axes=-1, **kwargs):
    return Dot(axes=axes, **kwargs)(inputs)
