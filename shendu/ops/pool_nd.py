"""Max and average pooling over any number of spatial axes (3-D volumes among them), channels-last.

Like ops/conv.py's 2-D pooling: one whole-array maximum or sum per offset of the pool window, so
the Python loop runs over the window's offsets only, never over positions or channels.
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops.conv import _ints, _padding
from shendu.ops.window import crop, geometry, layout, offsets, pad, tap
from shendu.tensor import Tensor, as_tensor


class MaxPoolND(Function):
    """y[n,p,c] = max_a x[n, p*s+a, c];   dx = dy routed to each window's first maximum, as PyTorch"""
    def forward(self, x):
        xp, w = backend.xp, self.win
        low = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min   # 'same' padding never wins
        xpad = pad(x, w.pads, low)
        taps = offsets(w)
        y = tap(xpad, w, taps[0]).copy()
        for offset in taps[1:]:
            xp.maximum(y, tap(xpad, w, offset), out=y)
        self.save(xpad, y)
        return y

    def backward(self, gy):
        xpad, y = self.saved
        xp, w = backend.xp, self.win
        g = xp.zeros(xpad.shape, gy.dtype)
        taken = xp.zeros(y.shape, bool)           # windows whose maximum already got the gradient (ties)
        for offset in offsets(w):
            hit = tap(xpad, w, offset) == y
            hit &= ~taken
            taken |= hit
            tap(g, w, offset)[...] += gy * hit
        return crop(g, w.pads)


class AvgPoolND(Function):
    """y[n,p,c] = Σ_a x[n, p*s+a, c] / count[p];   dx[n, p*s+a, c] += dy[n,p,c] / count[p]
    (count = the window's real, un-padded cells, as in TensorFlow)"""
    def forward(self, x):
        xp, w = backend.xp, self.win
        xpad = pad(x, w.pads)
        count = 1.0
        for axis, (size, k, s, (before, _), out) in enumerate(zip(x.shape[1:-1], w.k, w.s, w.pads, w.out)):
            # the window [start, start + k) clipped to [0, size), counted per axis; the product is the count
            start = xp.arange(out) * s - before
            cells = (xp.minimum(start + k, size) - xp.maximum(start, 0)).astype(x.dtype)
            count = count * cells.reshape((out,) + (1,) * (len(w.k) - axis))
        self.count = count
        self.padded_shape = xpad.shape
        taps = offsets(w)
        y = tap(xpad, w, taps[0]).copy()
        for offset in taps[1:]:
            y += tap(xpad, w, offset)
        return y / count

    def backward(self, gy):
        w = self.win
        g = backend.xp.zeros(self.padded_shape, gy.dtype)
        share = gy / self.count
        for offset in offsets(w):
            tap(g, w, offset)[...] += share
        return crop(g, w.pads)


def _pool(cls, op, x, pool_size, strides, padding, rank) -> Tensor:
    x = as_tensor(x)
    if x.ndim != rank + 2:
        raise ValueError(f"{op} expects a {rank + 2}-D input {layout(rank)} but got shape {x.shape}.")
    pool_size = _ints(pool_size, rank, "pool_size", op)
    strides = pool_size if strides is None else _ints(strides, rank, "strides", op)
    win = geometry(op, x.shape[1:-1], pool_size, strides, (1,) * rank,
                   _padding(op, padding, ("valid", "same")), what="pool window")
    return cls.apply(x, win=win)


def max_pool3d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over each pool_size window of x (batch, depth, height, width, channels); strides default to pool_size."""
    return _pool(MaxPoolND, "max_pool3d", x, pool_size, strides, padding, 3)


def avg_pool3d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over each window of x (batch, depth, height, width, channels); 'same' averages real cells only."""
    return _pool(AvgPoolND, "avg_pool3d", x, pool_size, strides, padding, 3)


def max_pool(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max pooling over every spatial axis of x (batch, *spatial, channels)."""
    x = as_tensor(x)
    return _pool(MaxPoolND, f"max_pool{x.ndim - 2}d", x, pool_size, strides, padding, max(x.ndim - 2, 1))


def avg_pool(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Average pooling over every spatial axis of x (batch, *spatial, channels)."""
    x = as_tensor(x)
    return _pool(AvgPoolND, f"avg_pool{x.ndim - 2}d", x, pool_size, strides, padding, max(x.ndim - 2, 1))
