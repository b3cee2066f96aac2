"""Max and average pooling over any number of spatial axes, channels-last: 1-D sequences, 2-D images,
3-D volumes.

The NumPy forms loop over the pool window's offsets only, one whole-array maximum or sum per offset,
never over positions or channels. A 2-D max pool (and a 1-D one, run as an image one row high) takes
ops/conv_loops.py's compiled pass where numba is installed: one pass over the image that keeps each
window's argmax, so the backward routes dy there without comparing again. Padding follows TensorFlow:
'same' pads so that out = ceil(in / stride), with -inf for the maximum, and an average counts only the
real cells of its window.
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.ops import conv_loops
from shendu.ops.conv import _ints, _padding
from shendu.ops.shape import reshape
from shendu.ops.window import Window, crop, geometry, layout, offsets, pad, tap
from shendu.tensor import Tensor, as_tensor


class MaxPool(Function):
    """y[n,p,c] = max_a x[n, p*s+a, c];   dx = dy routed to each window's first maximum, as PyTorch"""
    def forward(self, x):
        xp, w = backend.xp, self.win
        low = -xp.inf if x.dtype.kind == "f" else xp.iinfo(x.dtype).min   # 'same' padding never wins
        xpad = pad(x, w.pads, low)
        fast = conv_loops.max_pool(xpad, w) if len(w.k) == 2 else None  # also keeps each window's argmax
        if fast is not None:
            self.padded_shape = xpad.shape
            self.save(fast[1])
            return fast[0]
        taps = offsets(w)
        y = tap(xpad, w, taps[0]).copy()
        for offset in taps[1:]:
            xp.maximum(y, tap(xpad, w, offset), out=y)
        self.save(xpad, y)
        return y

    def backward(self, gy):
        if len(self.saved) == 1:                    # the compiled forward's argmax: route dy there
            return crop(conv_loops.max_pool_grad(gy, self.saved[0], self.win, self.padded_shape), self.win.pads)
        xpad, y = self.saved
        xp, w = backend.xp, self.win
        g = xp.zeros(xpad.shape, gy.dtype)
        taps = offsets(w)
        # windows that do not overlap (stride >= pool size) each own their pixels: write, don't add
        disjoint = all(s >= k for s, k in zip(w.s, w.k))
        taken = hit = None                          # windows whose maximum already got the gradient (ties)
        for i, offset in enumerate(taps):
            hit = xp.equal(tap(xpad, w, offset), y, out=hit)
            if i:
                hit &= ~taken
            if i < len(taps) - 1:
                taken = hit.copy() if taken is None else xp.logical_or(taken, hit, out=taken)
            if disjoint:
                xp.multiply(gy, hit, out=tap(g, w, offset))    # a bool multiply: several times faster than where()
            else:
                tap(g, w, offset)[...] += gy * hit
        return crop(g, w.pads)


class AvgPool(Function):
    """y[n,p,c] = Σ_a x[n, p*s+a, c] / count[p];   dx[n, p*s+a, c] += dy[n,p,c] / count[p]
    (count = the window's real, un-padded cells, as in TensorFlow)"""
    def forward(self, x):
        xp, w = backend.xp, self.win
        xpad = pad(x, w.pads)
        count = 1.0
        for axis, (size, k, s, (before, _), out) in enumerate(zip(x.shape[1:-1], w.k, w.s, w.pads, w.out)):
            if before == 0 and (out - 1) * s + k <= size:      # every window inside: k real cells
                count = count * k
                continue
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
    win = geometry(op, x.shape[1:-1], pool_size, strides, (1,) * rank, _padding(op, padding, ("valid", "same")),
                   what="pool window")
    if rank != 1:
        return cls.apply(x, win=win)
    # a sequence pools as an image one row high: the 2-D max pool's compiled pass serves it too
    n, length, channels = x.shape
    row = Window((1, *win.k), (1, *win.s), (1, 1), ((0, 0), *win.pads), (1, *win.out))
    return reshape(cls.apply(reshape(x, (n, 1, length, channels)), win=row), (n, win.out[0], channels))


def max_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over each window of x (batch, length, channels); strides default to pool_size."""
    return _pool(MaxPool, "max_pool1d", x, pool_size, strides, padding, 1)


def max_pool2d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over each pool_size window of x (batch, height, width, channels); strides default to pool_size."""
    return _pool(MaxPool, "max_pool2d", x, pool_size, strides, padding, 2)


def max_pool3d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max over each pool_size window of x (batch, depth, height, width, channels); strides default to pool_size."""
    return _pool(MaxPool, "max_pool3d", x, pool_size, strides, padding, 3)


def avg_pool1d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over each window of x (batch, length, channels); 'same' averages real cells only."""
    return _pool(AvgPool, "avg_pool1d", x, pool_size, strides, padding, 1)


def avg_pool2d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over each pool_size window of x (batch, height, width, channels); 'same' averages real cells only."""
    return _pool(AvgPool, "avg_pool2d", x, pool_size, strides, padding, 2)


def avg_pool3d(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Mean over each window of x (batch, depth, height, width, channels); 'same' averages real cells only."""
    return _pool(AvgPool, "avg_pool3d", x, pool_size, strides, padding, 3)


def max_pool(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Max pooling over every spatial axis of x (batch, *spatial, channels)."""
    x = as_tensor(x)
    return _pool(MaxPool, f"max_pool{x.ndim - 2}d", x, pool_size, strides, padding, max(x.ndim - 2, 1))


def avg_pool(x, pool_size=2, strides=None, padding: str = "valid") -> Tensor:
    """Average pooling over every spatial axis of x (batch, *spatial, channels)."""
    x = as_tensor(x)
    return _pool(AvgPool, f"avg_pool{x.ndim - 2}d", x, pool_size, strides, padding, max(x.ndim - 2, 1))
