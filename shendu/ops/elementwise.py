"""Elementwise arithmetic and math: each op's forward and backward side by side.

Broadcasting is handled by the engine: backward returns gradients in the broadcast shape and
``autograd`` sums them back to each input's shape.
"""
from __future__ import annotations

from shendu import backend
from shendu.autograd import Function
from shendu.tensor import Tensor, as_tensor


def _pair(a, b):
    """Both operands as tensors; a Python number takes the other operand's dtype (no upcast)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        b = Tensor._wrap(backend.xp.asarray(b, dtype=_scalar_dtype(a, b)), False)
    elif isinstance(b, Tensor) and not isinstance(a, Tensor):
        a = Tensor._wrap(backend.xp.asarray(a, dtype=_scalar_dtype(b, a)), False)
    elif not isinstance(a, Tensor):
        a, b = as_tensor(a), as_tensor(b)
    return a, b


def _scalar_dtype(t, value):
    if isinstance(value, (bool, int, float)) and backend.is_float(t.dtype):
        return t.dtype
    if isinstance(value, (bool, int)) and t.dtype.kind in "iu":
        return t.dtype
    if isinstance(value, float) and t.dtype.kind in "iub":
        return backend.floatx           # int tensor * 0.5 is float32, as in PyTorch and Keras
    return backend.asarray(value).dtype


class Add(Function):
    """y = a + b;   da = dy, db = dy"""
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    """y = a - b;   da = dy, db = -dy"""
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    """y = a * b;   da = dy * b, db = dy * a"""
    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        return (gy * b if self.needs[0] else None), (gy * a if self.needs[1] else None)


class Div(Function):
    """y = a / b;   da = dy / b, db = -dy * a / b**2"""
    def forward(self, a, b):
        self.save(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved
        ga = gy / b
        return ga, (-ga * a / b if self.needs[1] else None)


class Neg(Function):
    """y = -x;   dx = -dy"""
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = a ** b;   da = dy * b * a**(b-1), db = dy * y * log(a)"""
    def forward(self, a, b):
        y = a ** b
        self.save(a, b, y)
        return y

    def backward(self, gy):
        a, b, y = self.saved
        xp = backend.xp
        ga = gy * b * a ** (b - 1) if self.needs[0] else None
        gb = None
        if self.needs[1]:
            gb = gy * y * xp.log(xp.where(a > 0, a, 1))   # log(a) only where it is defined
        return ga, gb


class Exp(Function):
    """y = e**x;   dx = dy * y"""
    def forward(self, x):
        y = backend.xp.exp(x)
        self.save(y)
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Log(Function):
    """y = ln x;   dx = dy / x"""
    def forward(self, x):
        self.save(x)
        return backend.xp.log(x)

    def backward(self, gy):
        return gy / self.saved[0]


class Sqrt(Function):
    """y = sqrt(x);   dx = dy / (2 y)"""
    def forward(self, x):
        y = backend.xp.sqrt(x)
        self.save(y)
        return y

    def backward(self, gy):
        return gy / (2 * self.saved[0])


class Abs(Function):
    """y = |x|;   dx = dy * sign(x)"""
    def forward(self, x):
        self.save(x)
        return backend.xp.abs(x)

    def backward(self, gy):
        return gy * backend.xp.sign(self.saved[0])


class Clip(Function):
    """y = min(max(x, low), high);   dx = dy inside [low, high], 0 outside"""
    def forward(self, x):
        self.save(x)
        # astype: NumPy promotes bfloat16 clipped by Python floats to float32; keep the input's dtype
        return backend.xp.clip(x, self.low, self.high).astype(x.dtype, copy=False)

    def backward(self, gy):
        (x,) = self.saved
        inside = backend.xp.ones(x.shape, bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return gy * inside


class Maximum(Function):
    """y = max(a, b);   the gradient goes to the larger input (to a on ties)"""
    def forward(self, a, b):
        mask = a >= b
        self.save(mask)
        return backend.xp.where(mask, a, b)

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask, gy * ~mask


class Minimum(Function):
    """y = min(a, b);   the gradient goes to the smaller input (to a on ties)"""
    def forward(self, a, b):
        mask = a <= b
        self.save(mask)
        return backend.xp.where(mask, a, b)

    def backward(self, gy):
        (mask,) = self.saved
        return gy * mask, gy * ~mask


class Where(Function):
    """y = cond ? a : b;   da = dy where cond, db = dy elsewhere"""
    def forward(self, a, b):
        return backend.xp.where(self.cond, a, b)

    def backward(self, gy):
        zero = backend.xp.zeros((), gy.dtype)
        return backend.xp.where(self.cond, gy, zero), backend.xp.where(self.cond, zero, gy)


class Cast(Function):
    """y = x as another dtype;   dx = dy cast back"""
    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.src)


def add(a, b) -> Tensor:
    return Add.apply(*_pair(a, b))


def sub(a, b) -> Tensor:
    return Sub.apply(*_pair(a, b))


def mul(a, b) -> Tensor:
    return Mul.apply(*_pair(a, b))


def div(a, b) -> Tensor:
    return Div.apply(*_pair(a, b))


def neg(x) -> Tensor:
    return Neg.apply(x)


def pow(a, b) -> Tensor:
    return Pow.apply(*_pair(a, b))


def exp(x) -> Tensor:
    return Exp.apply(x)


def log(x) -> Tensor:
    return Log.apply(x)


def sqrt(x) -> Tensor:
    return Sqrt.apply(x)


def square(x) -> Tensor:
    return Pow.apply(*_pair(x, 2))


def abs(x) -> Tensor:
    return Abs.apply(x)


def clip(x, low, high) -> Tensor:
    return Clip.apply(x, low=low, high=high)


def maximum(a, b) -> Tensor:
    return Maximum.apply(*_pair(a, b))


def minimum(a, b) -> Tensor:
    return Minimum.apply(*_pair(a, b))


def where(cond, a, b) -> Tensor:
    """Pick from ``a`` where ``cond`` holds, else from ``b`` (``cond`` has no gradient)."""
    cond = cond.data if isinstance(cond, Tensor) else backend.asarray(cond)
    return Where.apply(*_pair(a, b), cond=cond)


def cast(x, dtype) -> Tensor:
    x = as_tensor(x)
    dtype = backend.dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast.apply(x, dtype=dtype)
