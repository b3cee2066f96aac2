"""Matrix products: matmul (batched, broadcasting) and the fused dense layer z = xW + b."""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor


def _same_dtype(y, a, b):
    """NumPy multiplies two bfloat16 (ml_dtypes) matrices in float32: give the result the operands' dtype."""
    return y.astype(a.dtype) if y.dtype != a.dtype and a.dtype == b.dtype else y


class MatMul(Function):
    """y = a @ b;   da = dy @ bᵀ, db = aᵀ @ dy (batched over leading axes)"""
    def forward(self, a, b):
        self.save(a, b)
        return _same_dtype(a @ b, a, b)

    def backward(self, gy):
        a, b = self.saved
        xp = backend.xp
        ga = gy @ xp.swapaxes(b, -1, -2) if self.needs[0] else None
        gb = xp.swapaxes(a, -1, -2) @ gy if self.needs[1] else None
        return ga, gb


class Linear(Function):
    """z = x W + b  (x: (..., in), W: (in, out), b: (out,));   dx = dz Wᵀ, dW = xᵀ dz, db = Σ dz"""
    def forward(self, x, W, *b):
        self.save(x, W)
        z = _same_dtype(x @ W, x, W)
        if b:
            z += b[0]
        return z

    def backward(self, gz):
        x, W = self.saved
        gx = gz @ W.T if self.needs[0] else None
        x2 = x.reshape(-1, x.shape[-1])
        gz2 = gz.reshape(-1, gz.shape[-1])
        gW = x2.T @ gz2 if self.needs[1] else None
        if len(self.needs) == 3:
            return gx, gW, gz2.sum(axis=0)
        return gx, gW


def matmul(a, b) -> Tensor:
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs arrays with at least one axis, got shapes {a.shape} and {b.shape}; use * for scalars.")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(
            f"matmul: shapes {a.shape} @ {b.shape} do not fit: the last axis of the left operand "
            f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of the right "
            f"operand ({b.shape[-2 if b.ndim > 1 else 0]}).")
    if a.ndim == 1 or b.ndim == 1:       # vectors: lift to matrices, multiply, drop the axis again
        from shendu.ops.shape import reshape
        a2 = reshape(a, (1, -1)) if a.ndim == 1 else a
        b2 = reshape(b, (-1, 1)) if b.ndim == 1 else b
        y = MatMul.apply(a2, b2)
        shape = y.shape[:-2] + (() if a.ndim == 1 else y.shape[-2:-1]) + (() if b.ndim == 1 else y.shape[-1:])
        return reshape(y, shape)
    return MatMul.apply(a, b)


def linear(x, kernel, bias=None) -> Tensor:
    """The dense layer's affine map z = x @ kernel + bias, fused into one op."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1]} features but the kernel "
                         f"{kernel.shape} expects {kernel.shape[0]}.")
    if bias is None:
        return Linear.apply(x, kernel)
    return Linear.apply(x, kernel, bias)
