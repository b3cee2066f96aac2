"""Elementwise arithmetic, math, comparison and logic with NumPy's (and ``keras.ops``'s) names.

Differentiable functions are composed from the primitives in ``shendu.ops``; those whose result is
piecewise constant (sign, floor, round, comparisons, ...) return constants and say so.
"""
from __future__ import annotations

import math as _math
import numbers

from shendu import backend, ops
from shendu.numpy_api.creation import convert_to_tensor, standardize_dtype
from shendu.ops import math as mops
from shendu.tensor import Tensor


def _float(x) -> Tensor:
    """``x`` as a float tensor: integers and booleans become float32, as Keras does for exp, sqrt, mean, ..."""
    x = convert_to_tensor(x)
    return ops.cast(x, backend.floatx) if x.dtype.kind in "iub" else x


def _operands(x1, x2):
    """Both as tensors (a Python number stays a number, so it takes the other's dtype); int meets float:
    the int side becomes the float type."""
    a = x1 if isinstance(x1, numbers.Number) and not isinstance(x1, bool) else convert_to_tensor(x1)
    b = x2 if isinstance(x2, numbers.Number) and not isinstance(x2, bool) else convert_to_tensor(x2)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        if a.dtype.kind in "iub" and b.dtype.kind == "f":
            a = ops.cast(a, b.dtype)
        elif b.dtype.kind in "iub" and a.dtype.kind == "f":
            b = ops.cast(b, a.dtype)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = convert_to_tensor(a)
    return a, b


def _const(array) -> Tensor:
    return Tensor._wrap(array, False)


def _data(x):
    """The array behind ``x``; a Python number stays a number (NumPy keeps its full precision)."""
    if isinstance(x, numbers.Number) and not isinstance(x, bool):
        return x
    return convert_to_tensor(x).data


# ---------------------------------------------------------------- arithmetic
def add(x1, x2) -> Tensor:
    return ops.add(*_operands(x1, x2))


def subtract(x1, x2) -> Tensor:
    return ops.sub(*_operands(x1, x2))


def multiply(x1, x2) -> Tensor:
    return ops.mul(*_operands(x1, x2))


def divide(x1, x2) -> Tensor:
    """x1 / x2; integers divide to float32, as in Keras."""
    a, b = _operands(x1, x2)
    a = _float(a) if isinstance(a, Tensor) else float(a)
    b = _float(b) if isinstance(b, Tensor) else float(b)
    return ops.div(*_operands(a, b))


true_divide = divide


def divide_no_nan(x1, x2) -> Tensor:
    """x1 / x2, and 0 where x2 == 0 (no gradient flows through the zero entries)."""
    a, b = _operands(x1, x2)
    b = convert_to_tensor(b) if not isinstance(b, Tensor) else b
    zero = b.data == 0
    safe = ops.where(zero, 1.0, _float(b))
    return ops.where(zero, 0.0, divide(a, safe))


def floor_divide(x1, x2) -> Tensor:
    """floor(x1 / x2). Piecewise constant: returns a constant (no gradient)."""
    a, b = _operands(x1, x2)
    return _const(backend.xp.floor_divide(_data(a), _data(b)))


def mod(x1, x2) -> Tensor:
    """x1 - floor(x1 / x2) x2 (the sign follows x2, as in NumPy), composed so gradients flow to both."""
    a, b = _operands(x1, x2)
    return subtract(a, multiply(floor_divide(a, b), b))



def power(x1, x2) -> Tensor:
    return ops.pow(*_operands(x1, x2))


def negative(x) -> Tensor:
    return ops.neg(convert_to_tensor(x))


def abs(x) -> Tensor:
    return ops.abs(convert_to_tensor(x))


absolute = abs
fabs = abs


def square(x) -> Tensor:
    x = convert_to_tensor(x)
    return ops.mul(x, x)


def sqrt(x) -> Tensor:
    return ops.sqrt(_float(x))


def rsqrt(x) -> Tensor:
    """1 / √x."""
    return ops.div(1.0, ops.sqrt(_float(x)))


def reciprocal(x) -> Tensor:
    return ops.div(1.0, _float(x))


def cbrt(x) -> Tensor:
    return mops.cbrt(_float(x))


def exp(x) -> Tensor:
    return ops.exp(_float(x))


def exp2(x) -> Tensor:
    """2**x = e**(x ln 2)."""
    return ops.exp(ops.mul(_float(x), _math.log(2.0)))


def expm1(x) -> Tensor:
    return mops.expm1(_float(x))


def log(x) -> Tensor:
    return ops.log(_float(x))


def log2(x) -> Tensor:
    """ln x / ln 2."""
    return ops.mul(ops.log(_float(x)), 1 / _math.log(2.0))


def log10(x) -> Tensor:
    """ln x / ln 10."""
    return ops.mul(ops.log(_float(x)), 1 / _math.log(10.0))


def log1p(x) -> Tensor:
    return mops.log1p(_float(x))


def logaddexp(x1, x2) -> Tensor:
    """log(e^x1 + e^x2) = max + log1p(e^-|x1 - x2|), stable for large inputs."""
    a, b = _operands(_float(x1), _float(x2))
    return ops.add(ops.maximum(a, b), mops.log1p(ops.exp(ops.neg(ops.abs(ops.sub(a, b))))))


def hypot(x1, x2) -> Tensor:
    """√(x1² + x2²)."""
    a, b = _operands(_float(x1), _float(x2))
    return ops.sqrt(ops.add(ops.mul(a, a), ops.mul(b, b)))


def sin(x) -> Tensor:
    return mops.sin(_float(x))


def cos(x) -> Tensor:
    return mops.cos(_float(x))


def tan(x) -> Tensor:
    return mops.tan(_float(x))


def arcsin(x) -> Tensor:
    return mops.arcsin(_float(x))


def arccos(x) -> Tensor:
    return mops.arccos(_float(x))


def arctan(x) -> Tensor:
    return mops.arctan(_float(x))


def arctan2(x1, x2) -> Tensor:
    return mops.arctan2(*_operands(_float(x1), _float(x2)))


def sinh(x) -> Tensor:
    return mops.sinh(_float(x))


def cosh(x) -> Tensor:
    return mops.cosh(_float(x))


def tanh(x) -> Tensor:
    return ops.tanh(_float(x))


def arcsinh(x) -> Tensor:
    return mops.arcsinh(_float(x))


def arccosh(x) -> Tensor:
    return mops.arccosh(_float(x))


def arctanh(x) -> Tensor:
    return mops.arctanh(_float(x))


def erf(x) -> Tensor:
    return mops.erf(_float(x))


def erfinv(x) -> Tensor:
    return mops.erfinv(_float(x))


def deg2rad(x) -> Tensor:
    return ops.mul(_float(x), _math.pi / 180)


def rad2deg(x) -> Tensor:
    return ops.mul(_float(x), 180 / _math.pi)


def clip(x, x_min, x_max) -> Tensor:
    return ops.clip(convert_to_tensor(x), _value(x_min), _value(x_max))


def _value(v):
    return v.data if isinstance(v, Tensor) else v


def maximum(x1, x2) -> Tensor:
    return ops.maximum(*_operands(x1, x2))


def minimum(x1, x2) -> Tensor:
    return ops.minimum(*_operands(x1, x2))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None) -> Tensor:
    """NaN -> ``nan``, ±inf -> ``posinf``/``neginf`` (the dtype's extremes by default); the gradient flows
    through the finite entries."""
    x = convert_to_tensor(x)
    if x.dtype.kind != "f":
        return x
    info = backend.xp.finfo(x.dtype)
    y = ops.where(backend.xp.isnan(x.data), float(nan), x)
    y = ops.where(backend.xp.isposinf(x.data), float(info.max if posinf is None else posinf), y)
    return ops.where(backend.xp.isneginf(x.data), float(info.min if neginf is None else neginf), y)


# ---------------------------------------------------------------- piecewise constant: no gradient
def sign(x) -> Tensor:
    """-1, 0 or 1. Piecewise constant: returns a constant (no gradient)."""
    return _const(backend.xp.sign(_data(x)))


def floor(x) -> Tensor:
    """Piecewise constant: returns a constant (no gradient)."""
    return _const(backend.xp.floor(_float(x).data))


def ceil(x) -> Tensor:
    """Piecewise constant: returns a constant (no gradient)."""
    return _const(backend.xp.ceil(_float(x).data))


def trunc(x) -> Tensor:
    """Rounds toward zero. Piecewise constant: returns a constant (no gradient)."""
    return _const(backend.xp.trunc(_data(x)))


def round(x, decimals=0) -> Tensor:
    """Rounds half to even, to ``decimals`` places. Piecewise constant: returns a constant (no gradient)."""
    return _const(backend.xp.round(_data(x), decimals))


def heaviside(x1, x2) -> Tensor:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0. Piecewise constant: a constant (no gradient)."""
    return _const(backend.xp.heaviside(_float(x1).data, _float(x2).data))


def signbit(x) -> Tensor:
    """Not differentiable (a boolean constant)."""
    return _const(backend.xp.signbit(_data(x)))


# ---------------------------------------------------------------- comparison and logic (boolean constants)
def _compare(name):
    def compare(x1, x2) -> Tensor:
        a, b = _operands(x1, x2)
        return _const(getattr(backend.xp, name)(_data(a), _data(b)))
    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise {name} (a constant: comparisons and bitwise ops have no gradient)."
    return compare


equal = _compare("equal")
not_equal = _compare("not_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
less = _compare("less")
less_equal = _compare("less_equal")
logical_and = _compare("logical_and")
logical_or = _compare("logical_or")
logical_xor = _compare("logical_xor")


def logical_not(x) -> Tensor:
    """A boolean constant (no gradient)."""
    return _const(backend.xp.logical_not(_data(x)))


def isnan(x) -> Tensor:
    return _const(backend.xp.isnan(_data(x)))


def isinf(x) -> Tensor:
    return _const(backend.xp.isinf(_data(x)))


def isfinite(x) -> Tensor:
    return _const(backend.xp.isfinite(_data(x)))


def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False) -> Tensor:
    return _const(backend.xp.isclose(_data(x1), _data(x2), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False) -> Tensor:
    return _const(backend.xp.asarray(backend.xp.allclose(_data(x1), _data(x2), rtol=rtol, atol=atol,
                                                         equal_nan=equal_nan)))


def cast(x, dtype) -> Tensor:
    """x converted to ``dtype``; float to float keeps the gradient (cast back), to int gives a constant."""
    return ops.cast(convert_to_tensor(x), standardize_dtype(dtype))


def stop_gradient(variable) -> Tensor:
    """The same values, cut from the graph: no gradient flows back through it."""
    return convert_to_tensor(variable).detach()


def erfc(x) -> Tensor:
    """1 - erf(x)."""
    return ops.sub(1.0, mops.erf(_float(x)))


def sinc(x) -> Tensor:
    """sin(πx) / (πx), 1 at 0 (where the gradient is taken as 0)."""
    x = _float(x)
    zero = x.data == 0
    px = ops.mul(ops.where(zero, 1.0, x), _math.pi)
    return ops.where(zero, 1.0, ops.div(mops.sin(px), px))


def logaddexp2(x1, x2) -> Tensor:
    """log2(2^x1 + 2^x2) = logaddexp(x1 ln 2, x2 ln 2) / ln 2."""
    ln2 = _math.log(2.0)
    return ops.mul(logaddexp(ops.mul(_float(x1), ln2), ops.mul(_float(x2), ln2)), 1 / ln2)


def fmod(x1, x2) -> Tensor:
    """x1 - trunc(x1 / x2) x2 (the sign follows x1, as C's fmod); gradients flow to both."""
    a, b = _operands(x1, x2)
    quotient = backend.xp.trunc(_data(divide(a, b))).astype(_data(a).dtype)    # a constant: piecewise flat
    return subtract(a, multiply(_const(quotient), b))


def fmax(x1, x2) -> Tensor:
    """maximum that ignores NaN (the other value wins)."""
    a, b = _operands(x1, x2)
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    return ops.where(backend.xp.isnan(a.data), b, ops.where(backend.xp.isnan(b.data), a, ops.maximum(a, b)))


def fmin(x1, x2) -> Tensor:
    """minimum that ignores NaN (the other value wins)."""
    a, b = _operands(x1, x2)
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    return ops.where(backend.xp.isnan(a.data), b, ops.where(backend.xp.isnan(b.data), a, ops.minimum(a, b)))


def isposinf(x) -> Tensor:
    return _const(backend.xp.isposinf(_data(x)))


def isneginf(x) -> Tensor:
    return _const(backend.xp.isneginf(_data(x)))


def saturate_cast(x, dtype) -> Tensor:
    """x clipped to ``dtype``'s range, then cast (no wrap-around)."""
    x = convert_to_tensor(x)
    dtype = standardize_dtype(dtype)
    info = backend.xp.iinfo(dtype) if dtype.kind in "iu" else backend.xp.finfo(dtype)
    if x.dtype.kind in "iub" and dtype.kind == "f":
        return cast(x, dtype)
    return cast(ops.clip(x, max(float(info.min), float(backend.xp.finfo("float64").min)), float(info.max)), dtype)


def _bitwise(name):
    def bitwise(x, y) -> Tensor:
        return _const(getattr(backend.xp, name)(_data(x), _data(y)))
    bitwise.__name__ = bitwise.__qualname__ = name
    bitwise.__doc__ = f"Elementwise {name} of integers (a constant)."
    return bitwise


bitwise_and = _bitwise("bitwise_and")
bitwise_or = _bitwise("bitwise_or")
bitwise_xor = _bitwise("bitwise_xor")
left_shift = bitwise_left_shift = _bitwise("left_shift")
right_shift = bitwise_right_shift = _bitwise("right_shift")
gcd = _compare("gcd")
lcm = _compare("lcm")


def bitwise_invert(x) -> Tensor:
    """~x on integers (a constant)."""
    return _const(backend.xp.invert(_data(x)))


bitwise_not = bitwise_invert
