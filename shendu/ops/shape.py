"""Ops that move values without changing them: reshape, transpose, indexing, joining, padding."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor


class Reshape(Function):
    """y = x viewed with another shape;   dx = dy viewed with x's shape"""
    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"Cannot reshape a tensor of shape {x.shape} ({x.size} values) into {tuple(self.shape)}."
            ) from None

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Transpose(Function):
    """y = x with axes permuted;   dx = dy with the inverse permutation"""
    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        axes = [a % gy.ndim for a in self.axes]      # (-1, 0, 1) means (2, 0, 1): argsort needs the latter
        return gy.transpose(backend.xp.argsort(backend.xp.asarray(axes)).tolist())


def _is_basic(index):
    """True when ``index`` uses only slices, integers, None and Ellipsis (no element repeats)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """y = x[index];   dx = dy scattered back (repeated indices add up)"""
    def forward(self, x):
        self.in_shape, self.in_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        gx = backend.xp.zeros(self.in_shape, gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy
        else:
            backend.xp.add.at(gx, self.index, gy)
        return gx


class Concatenate(Function):
    """y = [x1, x2, ...] joined along axis;   dxi = the slice of dy that came from xi"""
    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return backend.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        cuts = backend.xp.cumsum(backend.xp.asarray(self.sizes))[:-1].tolist()
        return tuple(backend.xp.split(gy, cuts, axis=self.axis))


class Stack(Function):
    """y = [x1, x2, ...] stacked on a new axis;   dxi = dy taken at i on that axis"""
    def forward(self, *xs):
        return backend.xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        return tuple(backend.xp.moveaxis(gy, self.axis, 0))


class Split(Function):
    """(y1, y2, ...) = x cut along axis;   dx = the pieces' gradients joined (zeros where unused)"""
    def forward(self, x):
        ys = backend.xp.split(x, self.sections, axis=self.axis)
        self.shapes, self.dtype = [y.shape for y in ys], x.dtype
        return tuple(ys)

    def backward(self, *gys):
        xp = backend.xp
        parts = [g if g is not None else xp.zeros(s, self.dtype) for g, s in zip(gys, self.shapes)]
        return xp.concatenate(parts, axis=self.axis)


class Pad(Function):
    """y = x surrounded by a constant;   dx = the interior of dy"""
    def forward(self, x):
        self.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.pad_width, x.shape))
        return backend.xp.pad(x, self.pad_width, constant_values=self.value)

    def backward(self, gy):
        return gy[self.crop]


class BroadcastTo(Function):
    """y = x repeated to a larger shape;   dx = dy summed back (done by the engine)"""
    def forward(self, x):
        return backend.xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return gy


def reshape(x, shape) -> Tensor:
    return Reshape.apply(x, shape=tuple(shape))


def transpose(x, axes=None) -> Tensor:
    return Transpose.apply(x, axes=tuple(axes) if axes is not None else None)


def getitem(x, index) -> Tensor:
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = backend.asarray(index)
    return GetItem.apply(x, index=index)


def concatenate(tensors, axis=-1) -> Tensor:
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors, axis=0) -> Tensor:
    return Stack.apply(*tensors, axis=axis)


def split(x, indices_or_sections, axis=0) -> tuple:
    """Cut ``x`` into equal sections (an int) or at the given indices (a list), like ``numpy.split``."""
    x = as_tensor(x)
    sections = indices_or_sections
    if isinstance(sections, int) and x.shape[axis] % sections:
        raise ValueError(f"split: axis {axis} of size {x.shape[axis]} does not divide into {sections} equal parts.")
    return Split.apply(x, sections=sections, axis=axis)


def pad(x, pad_width, value=0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` is ((before, after), ...) per axis, as in ``numpy.pad``."""
    x = as_tensor(x)
    pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pad_width) != x.ndim:
        raise ValueError(f"pad: pad_width needs one (before, after) pair per axis ({x.ndim}), got {len(pad_width)}.")
    return Pad.apply(x, pad_width=pad_width, value=value)


def broadcast_to(x, shape) -> Tensor:
    return BroadcastTo.apply(x, shape=tuple(shape))


def expand_dims(x, axis) -> Tensor:
    x = as_tensor(x)
    shape = list(x.shape)
    shape.insert(axis if axis >= 0 else len(shape) + axis + 1, 1)
    return reshape(x, shape)


def squeeze(x, axis) -> Tensor:
    x = as_tensor(x)
    axis = axis % x.ndim
    if x.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} has size {x.shape[axis]}, not 1.")
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])
