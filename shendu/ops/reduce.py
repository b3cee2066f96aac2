"""Reductions: sum, mean, max, min, logsumexp along any axes."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else a for a in axis)


def _expand(g, shape, axes):
    """Put the reduced axes back as size 1 so ``g`` broadcasts against the input."""
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return g.reshape(kept)


class Sum(Function):
    """y = Σ x over axes;   dx = dy broadcast back over those axes"""
    def forward(self, x):
        self.shape, self.axes = x.shape, _axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return backend.xp.broadcast_to(_expand(gy, self.shape, self.axes), self.shape)


class Mean(Function):
    """y = (1/n) Σ x over axes;   dx = dy / n"""
    def forward(self, x):
        self.shape, self.axes = x.shape, _axes(self.axis, x.ndim)
        self.n = 1
        for a in self.axes:
            self.n *= x.shape[a]
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        g = _expand(gy, self.shape, self.axes) / (self.n or 1)
        return backend.xp.broadcast_to(g, self.shape)


class Max(Function):
    """y = max x over axes;   dx = dy shared equally among the maxima"""
    op = "max"

    def forward(self, x):
        self.axes = _axes(self.axis, x.ndim)
        y = getattr(x, self.op)(axis=self.axes, keepdims=True)
        self.save(x, y)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        x, y = self.saved
        mask = x == y
        # counted in x's float type (exact below 2^24 ties): an int64 count would make the share, and the
        # whole gradient, float64
        dtype = x.dtype if x.dtype.kind == "f" else None
        count = mask.sum(axis=self.axes, keepdims=True, dtype=dtype)
        return mask * (_expand(gy, x.shape, self.axes) / count)


class Min(Max):
    """y = min x over axes;   dx = dy shared equally among the minima"""
    op = "min"


class LogSumExp(Function):
    """y = log Σ exp(x) = m + log Σ exp(x - m), m = max x (stable);   dx = dy * softmax(x)"""
    def forward(self, x):
        xp = backend.xp
        self.axes = _axes(self.axis, x.ndim)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(x - m)
        s = e.sum(axis=self.axes, keepdims=True)
        y = xp.log(s) + m
        self.save(e / s)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        (p,) = self.saved
        return p * _expand(gy, p.shape, self.axes)


def sum(x, axis=None, keepdims=False) -> Tensor:
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False) -> Tensor:
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:
    return Min.apply(x, axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
