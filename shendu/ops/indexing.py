"""Scatter: writing values into a new tensor at given indices (the adjoint of gathering them)."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor


class ScatterAdd(Function):
    """y = zeros(shape); y[index] += values (repeated indices add up);   dvalues = dy[index]"""
    def forward(self, values):
        y = backend.xp.zeros(self.shape, values.dtype)
        backend.xp.add.at(y, self.index, values)
        return y

    def backward(self, gy):
        return gy[self.index]


def scatter_add(index, values, shape) -> Tensor:
    """A tensor of ``shape``, zero except ``values`` added at ``index`` (a NumPy-style index: a tuple of
    integer arrays, one per leading axis)."""
    return ScatterAdd.apply(as_tensor(values), index=index, shape=tuple(int(n) for n in shape))
