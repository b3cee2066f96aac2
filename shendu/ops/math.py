"""More elementwise math: trigonometric and hyperbolic functions, log1p/expm1, erf, arctan2,
and the scans and products (cumsum, cumprod, prod) whose gradients need more than one line."""
from __future__ import annotations

import math

from shendu import backend
from shendu.autograd import Function
from shendu.ops.activation import _erf
from shendu.ops.elementwise import _pair
from shendu.ops.reduce import _axes, _expand
from shendu.ops.shape import reshape
from shendu.tensor import Tensor, as_tensor


class Sin(Function):
    """y = sin x;   dx = dy cos x"""
    def forward(self, x):
        self.save(x)
        return backend.xp.sin(x)

    def backward(self, gy):
        return gy * backend.xp.cos(self.saved[0])


class Cos(Function):
    """y = cos x;   dx = -dy sin x"""
    def forward(self, x):
        self.save(x)
        return backend.xp.cos(x)

    def backward(self, gy):
        return -gy * backend.xp.sin(self.saved[0])


class Tan(Function):
    """y = tan x;   dx = dy (1 + y²)"""
    def forward(self, x):
        y = backend.xp.tan(x)
        self.save(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * (1 + y * y)


class Arcsin(Function):
    """y = arcsin x;   dx = dy / √(1 - x²)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arcsin(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / backend.xp.sqrt(1 - x * x)


class Arccos(Function):
    """y = arccos x;   dx = -dy / √(1 - x²)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arccos(x)

    def backward(self, gy):
        (x,) = self.saved
        return -gy / backend.xp.sqrt(1 - x * x)


class Arctan(Function):
    """y = arctan x;   dx = dy / (1 + x²)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arctan(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / (1 + x * x)


class Arctan2(Function):
    """y = atan2(a, b) (the angle of the point (b, a));   da = dy b / (a² + b²), db = -dy a / (a² + b²)"""
    def forward(self, a, b):
        self.save(a, b)
        return backend.xp.arctan2(a, b)

    def backward(self, gy):
        a, b = self.saved
        g = gy / (a * a + b * b)
        return g * b, -g * a


class Sinh(Function):
    """y = sinh x;   dx = dy cosh x"""
    def forward(self, x):
        self.save(x)
        return backend.xp.sinh(x)

    def backward(self, gy):
        return gy * backend.xp.cosh(self.saved[0])


class Cosh(Function):
    """y = cosh x;   dx = dy sinh x"""
    def forward(self, x):
        self.save(x)
        return backend.xp.cosh(x)

    def backward(self, gy):
        return gy * backend.xp.sinh(self.saved[0])


class Arcsinh(Function):
    """y = arcsinh x;   dx = dy / √(x² + 1)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arcsinh(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / backend.xp.sqrt(x * x + 1)


class Arccosh(Function):
    """y = arccosh x (x >= 1);   dx = dy / √(x² - 1)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arccosh(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / backend.xp.sqrt(x * x - 1)


class Arctanh(Function):
    """y = arctanh x (|x| < 1);   dx = dy / (1 - x²)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.arctanh(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy / (1 - x * x)


class Log1p(Function):
    """y = ln(1 + x), exact for tiny x;   dx = dy / (1 + x)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.log1p(x)

    def backward(self, gy):
        return gy / (1 + self.saved[0])


class Expm1(Function):
    """y = e**x - 1, exact for tiny x;   dx = dy (y + 1)"""
    def forward(self, x):
        y = backend.xp.expm1(x)
        self.save(y)
        return y

    def backward(self, gy):
        return gy * (self.saved[0] + 1)


class Cbrt(Function):
    """y = ∛x (real, any sign);   dx = dy / (3 y²)"""
    def forward(self, x):
        y = backend.xp.cbrt(x)
        self.save(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy / (3 * y * y)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


class Erf(Function):
    """y = erf x = (2/√π) ∫₀ˣ e^(-t²) dt;   dx = dy (2/√π) e^(-x²)"""
    def forward(self, x):
        self.save(x)
        return _erf(x)

    def backward(self, gy):
        (x,) = self.saved
        return gy * _TWO_OVER_SQRT_PI * backend.xp.exp(-x * x)


class Erfinv(Function):
    """y = erf⁻¹(x) (|x| < 1);   dx = dy (√π / 2) e^(y²)"""
    def forward(self, x):
        y = backend.special("erfinv")(x).astype(x.dtype)     # SciPy's (cupyx's on CuPy); SciPy is optional
        self.save(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy / _TWO_OVER_SQRT_PI * backend.xp.exp(y * y)


# ---------------------------------------------------------------- products and scans

class Prod(Function):
    """y = Π x over axes;   dx_i = dy Π_{j≠i} x_j (from exclusive running products, so zeros are fine)"""
    def forward(self, x):
        xp = backend.xp
        self.axes = _axes(self.axis, x.ndim)
        self.save(x)
        y = xp.prod(x, axis=self.axes, keepdims=True)
        return y if self.keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        xp = backend.xp
        (x,) = self.saved
        kept = [i for i in range(x.ndim) if i not in self.axes]
        order = kept + list(self.axes)
        flat = x.transpose(order).reshape([x.shape[i] for i in kept] + [-1])
        ones = xp.ones(flat.shape[:-1] + (1,), x.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)         # Π_{j<i}
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
        others = (left * right).reshape([x.shape[i] for i in order])
        others = others.transpose(xp.argsort(xp.asarray(order)).tolist())
        return others * _expand(gy, x.shape, self.axes)


class CumSum(Function):
    """y_i = Σ_{j<=i} x_j along axis;   dx_i = Σ_{j>=i} dy_j (a cumulative sum run backwards)"""
    def forward(self, x):
        return backend.xp.cumsum(x, axis=self.axis)

    def backward(self, gy):
        xp = backend.xp
        return xp.flip(xp.cumsum(xp.flip(gy, self.axis), axis=self.axis), self.axis)


class CumProd(Function):
    """y_i = Π_{j<=i} x_j along axis;   dx_i = Σ_{j>=i} dy_j Π_{k<=j, k≠i} x_k

    Computed in O(n²) per line with exclusive products, so zeros in ``x`` need no special case.
    """
    def forward(self, x):
        self.save(x)
        return backend.xp.cumprod(x, axis=self.axis)

    def backward(self, gy):
        xp = backend.xp
        (x,) = self.saved
        xm, gm = xp.moveaxis(x, self.axis, -1), xp.moveaxis(gy, self.axis, -1)
        n = xm.shape[-1]
        gx = xp.zeros_like(xm)
        for i in range(n):        # d y_j / d x_i = Π_{k<=j, k≠i} x_k for j >= i
            before = xp.prod(xm[..., :i], axis=-1, keepdims=True)
            after = xp.cumprod(xm[..., i + 1:], axis=-1)
            ys = xp.concatenate([before, before * after], axis=-1)
            gx[..., i] = (gm[..., i:] * ys).sum(axis=-1)
        return xp.moveaxis(gx, -1, self.axis)


def sin(x) -> Tensor:
    return Sin.apply(x)


def cos(x) -> Tensor:
    return Cos.apply(x)


def tan(x) -> Tensor:
    return Tan.apply(x)


def arcsin(x) -> Tensor:
    return Arcsin.apply(x)


def arccos(x) -> Tensor:
    return Arccos.apply(x)


def arctan(x) -> Tensor:
    return Arctan.apply(x)


def arctan2(a, b) -> Tensor:
    return Arctan2.apply(*_pair(a, b))


def sinh(x) -> Tensor:
    return Sinh.apply(x)


def cosh(x) -> Tensor:
    return Cosh.apply(x)


def arcsinh(x) -> Tensor:
    return Arcsinh.apply(x)


def arccosh(x) -> Tensor:
    return Arccosh.apply(x)


def arctanh(x) -> Tensor:
    return Arctanh.apply(x)


def log1p(x) -> Tensor:
    return Log1p.apply(x)


def expm1(x) -> Tensor:
    return Expm1.apply(x)


def cbrt(x) -> Tensor:
    return Cbrt.apply(x)


def erf(x) -> Tensor:
    return Erf.apply(x)


def erfinv(x) -> Tensor:
    return Erfinv.apply(x)


def prod(x, axis=None, keepdims=False) -> Tensor:
    return Prod.apply(x, axis=axis, keepdims=keepdims)


def cumsum(x, axis=None) -> Tensor:
    """Running sums along ``axis``; ``axis=None`` runs over the flattened tensor, as in NumPy."""
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return CumSum.apply(x, axis=axis % x.ndim)


def cumprod(x, axis=None) -> Tensor:
    """Running products along ``axis``; ``axis=None`` runs over the flattened tensor, as in NumPy."""
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return CumProd.apply(x, axis=axis % x.ndim)
