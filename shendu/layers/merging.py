"""Layers that combine several inputs into one: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Masks (Keras 3's rules): the output is masked only when every input is; its mask is then the OR of
the input masks (a step is kept if any input keeps it). Add, Subtract and Average combine the values
as they are; Maximum and Minimum ignore an input's value where its mask hides it (the other input's
value is taken there), and Multiply counts hidden values as 1 and zeroes the steps every input hides.
A mask may be a boolean array or a Tensor, (batch, time) for (batch, time, features) inputs.
"""
from __future__ import annotations

from shendu import backend, ops
from shendu.layers.base import Layer
from shendu.layers.symbolic import shape_str
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
            raise ValueError(f"{type(self).__name__} layer '{self.name}' should be called on {need} "
                             f"{self.min_inputs} inputs: a list of {need} {self.min_inputs} tensors such as "
                             f"{type(self).__name__}()([x1, x2]); got {got}.")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)         # checks the count and the broadcasting
        batches = {s[0] for s in input_shape if s is not None} - {None}
        if len(batches) > 1:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' cannot merge tensors with different batch "
                             f"sizes, got shapes {[shape_str(s) for s in input_shape]}.")
        self.built = True

    def compute_output_shape(self, input_shape):
        """Broadcast the per-sample shapes (aligned from the last axis; None is unknown, 1 stretches);
        the batch axis is the one known batch size, else None."""
        self._check(input_shape)
        batches = {s[0] for s in input_shape if s is not None} - {None}
        out = None if input_shape[0] is None else tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            out = self._broadcast(out, None if shape is None else tuple(shape[1:]), input_shape)
        return (batches.pop() if len(batches) == 1 else None,) + (out or ())

    def _broadcast(self, a, b, shapes):
        if a is None or b is None:
            return None
        if len(a) < len(b):
            a, b = b, a
        if not b:
            return a
        out = list(a[:len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b):], b):
            if i is None or j is None:
                out.append(None)
            elif i == 1 or j == 1 or i == j:
                out.append(j if i == 1 else i)
            else:
                raise ValueError(f"{type(self).__name__} layer '{self.name}' needs inputs of the same shape (or "
                                 f"shapes that broadcast), got {[shape_str(s) for s in shapes]}.")
        return tuple(out)

    def call(self, inputs, mask=None):
        self._check(inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = self._merge(out, x)
        return out

    def compute_mask(self, inputs, mask=None):
        """OR of the input masks when every input is masked, else no mask (Keras 3)."""
        if mask is None:
            return None
        _check_mask_list(self, inputs, mask)
        if any(m is None for m in mask):
            return None
        out = mask_array(mask[0])
        for m in mask[1:]:
            out = out | mask_array(m)
        return out


def _check_mask_list(layer, inputs, mask) -> None:
    who = f"{type(layer).__name__} layer '{layer.name}'"
    if not isinstance(mask, (list, tuple)):
        raise ValueError(f"{who}: `mask` should be a list with one mask (or None) per input, got a "
                         f"{type(mask).__name__}.")
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"{who}: `inputs` should be a list of tensors, got a {type(inputs).__name__}.")
    if len(mask) != len(inputs):
        raise ValueError(f"{who}: `inputs` and `mask` should have the same length, got {len(inputs)} inputs and "
                         f"{len(mask)} masks.")


def mask_array(mask):
    """A boolean array from a mask given as an array, a list or a Tensor."""
    return backend.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)


def _spread(mask, x):
    """A (batch, time) mask widened to x's shape (batch, time, features)."""
    m = mask_array(mask)
    return backend.xp.broadcast_to(m[..., None] if m.ndim < x.ndim else m, x.shape)


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
    """y = x1 * x2 * ... (elementwise); a hidden (masked) value counts as 1, and when every input is
    masked the steps hidden in all of them output 0."""

    def call(self, inputs, mask=None):
        self._check(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        out, keep = None, None
        for x, m in zip(inputs, masks):
            if m is not None:
                m = _spread(m, x)
                x = ops.where(m, x, 1.0)
                keep = m if keep is None else keep | m
            out = x if out is None else out * x
        if keep is not None and all(m is not None for m in masks):
            out = ops.where(keep, out, 0.0)
        return out

    def _merge(self, a, b):
        return a * b


class _MaskedExtremum(Merge):
    """Maximum and Minimum: where an input's mask hides a step, the other input's value stands in, so a
    hidden value can never win; the output stays masked only while every input so far has a mask."""

    def call(self, inputs, mask=None):
        self._check(inputs)
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None] * len(inputs)
        out, out_mask = inputs[0], None if masks[0] is None else _spread(masks[0], inputs[0])
        for x, m in zip(inputs[1:], masks[1:]):
            m = None if m is None else _spread(m, x)
            if m is not None:
                x = ops.where(m, x, out)
            if out_mask is not None:
                out = ops.where(out_mask, out, x)
            out_mask = out_mask | m if m is not None and out_mask is not None else None
            out = self._merge(out, x)
        return out


class Maximum(_MaskedExtremum):
    """y = max(x1, x2, ...) elementwise"""
    def _merge(self, a, b):
        return ops.maximum(a, b)


class Minimum(_MaskedExtremum):
    """y = min(x1, x2, ...) elementwise"""
    def _merge(self, a, b):
        return ops.minimum(a, b)


class Average(Merge):
    """y = (x1 + x2 + ...) / n"""
    def call(self, inputs, mask=None):
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

    def compute_output_shape(self, input_shape):
        """The first input's shape with the ``axis`` sizes added (None when any of them is unknown)."""
        self._check(input_shape)
        if len({len(s) for s in input_shape}) > 1:
            raise ValueError(f"Concatenate layer '{self.name}' needs inputs of the same rank, got shapes "
                             f"{[shape_str(s) for s in input_shape]}.")
        out = list(input_shape[0])
        sizes = [s[self.axis] for s in input_shape]
        out[self.axis] = None if any(n is None for n in sizes) else sum(sizes)
        return tuple(out)

    def call(self, inputs, mask=None):
        self._check(inputs)
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        _check_mask_list(self, inputs, mask)
        if all(m is None for m in mask):
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

    def compute_output_shape(self, input_shape):
        """x1's axes without the contracted one, then x2's without it and its batch; (batch, 1) if nothing is left."""
        self._check(input_shape)
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        a1, a2 = self._pair((len(s1), len(s2)))
        del s1[a1]
        del s2[a2]
        out = s1 + s2[1:]
        return tuple(out) if len(out) > 1 else tuple(out) + (1,)

    def call(self, inputs, mask=None):
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
