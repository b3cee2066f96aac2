"""shendu/numpy_api/math.py: elementwise arithmetic and math against NumPy (float64 and float32) with
float64 gradient checks; the piecewise-constant functions, comparisons and logic as constants."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from helpers import Row, cases, check_row, signed

import shendu as sd
from shendu.numpy_api import math as npm

BINARY = [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((), (3,)), ((1, 5), (1, 1))]
UNARY = [((3, 4),), ((1,),), ((),), ((2, 1, 3),)]
POSITIVE = (0.2, 3.0)


def _logaddexp2(a, b):
    return np.logaddexp2(a, b)


ROWS = [
    Row("add", npm.add, np.add, BINARY),
    Row("subtract", npm.subtract, np.subtract, BINARY),
    Row("multiply", npm.multiply, np.multiply, BINARY),
    Row("divide", npm.divide, np.divide, BINARY, domain=[(-2.0, 2.0), signed(0.5, 2.0)]),
    Row("true_divide", npm.true_divide, np.true_divide, BINARY, domain=[(-2.0, 2.0), signed(0.5, 2.0)]),
    Row("divide_no_nan", npm.divide_no_nan, np.divide, BINARY, domain=[(-2.0, 2.0), signed(0.5, 2.0)]),
    Row("power", npm.power, np.power, BINARY, domain=[POSITIVE, (-2.0, 2.0)]),
    Row("mod", npm.mod, np.mod, BINARY, domain=[signed(0.1, 3.0), (0.7, 1.3)], kinks=(0.0,)),
    Row("fmod", npm.fmod, np.fmod, BINARY, domain=[(0.1, 0.6), (0.7, 1.3)]),
    Row("maximum", npm.maximum, np.maximum, BINARY),
    Row("minimum", npm.minimum, np.minimum, BINARY),
    Row("fmax", npm.fmax, np.fmax, BINARY),
    Row("fmin", npm.fmin, np.fmin, BINARY),
    Row("logaddexp", npm.logaddexp, np.logaddexp, BINARY),
    Row("logaddexp2", npm.logaddexp2, _logaddexp2, BINARY),
    Row("hypot", npm.hypot, np.hypot, BINARY, domain=[signed(0.3, 2.0), signed(0.3, 2.0)]),
    Row("arctan2", npm.arctan2, np.arctan2, BINARY, domain=[signed(0.3, 2.0), signed(0.3, 2.0)]),
    Row("negative", npm.negative, np.negative, UNARY),
    Row("abs", npm.abs, np.abs, UNARY, domain=signed(0.1, 2.0)),
    Row("absolute", npm.absolute, np.absolute, UNARY, domain=signed(0.1, 2.0)),
    Row("fabs", npm.fabs, np.fabs, UNARY, domain=signed(0.1, 2.0)),
    Row("square", npm.square, np.square, UNARY),
    Row("sqrt", npm.sqrt, np.sqrt, UNARY, domain=POSITIVE),
    Row("rsqrt", npm.rsqrt, lambda x: 1 / np.sqrt(x), UNARY, domain=POSITIVE),
    Row("reciprocal", npm.reciprocal, np.reciprocal, UNARY, domain=signed(0.3, 2.0)),
    Row("cbrt", npm.cbrt, np.cbrt, UNARY, domain=signed(0.3, 2.0)),
    Row("exp", npm.exp, np.exp, UNARY),
    Row("exp2", npm.exp2, np.exp2, UNARY),
    Row("expm1", npm.expm1, np.expm1, UNARY),
    Row("log", npm.log, np.log, UNARY, domain=POSITIVE),
    Row("log2", npm.log2, np.log2, UNARY, domain=POSITIVE),
    Row("log10", npm.log10, np.log10, UNARY, domain=POSITIVE),
    Row("log1p", npm.log1p, np.log1p, UNARY, domain=(-0.8, 3.0)),
    Row("sin", npm.sin, np.sin, UNARY),
    Row("cos", npm.cos, np.cos, UNARY),
    Row("tan", npm.tan, np.tan, UNARY, domain=(-1.2, 1.2)),
    Row("arcsin", npm.arcsin, np.arcsin, UNARY, domain=(-0.9, 0.9)),
    Row("arccos", npm.arccos, np.arccos, UNARY, domain=(-0.9, 0.9)),
    Row("arctan", npm.arctan, np.arctan, UNARY),
    Row("sinh", npm.sinh, np.sinh, UNARY),
    Row("cosh", npm.cosh, np.cosh, UNARY),
    Row("tanh", npm.tanh, np.tanh, UNARY),
    Row("arcsinh", npm.arcsinh, np.arcsinh, UNARY),
    Row("arccosh", npm.arccosh, np.arccosh, UNARY, domain=(1.2, 3.0)),
    Row("arctanh", npm.arctanh, np.arctanh, UNARY, domain=(-0.9, 0.9)),
    Row("erf", npm.erf, scipy.special.erf, UNARY),
    Row("erfc", npm.erfc, scipy.special.erfc, UNARY),
    Row("erfinv", npm.erfinv, scipy.special.erfinv, UNARY, domain=(-0.9, 0.9)),
    Row("sinc", npm.sinc, np.sinc, UNARY, domain=signed(0.1, 2.0)),
    Row("deg2rad", npm.deg2rad, np.deg2rad, UNARY),
    Row("rad2deg", npm.rad2deg, np.rad2deg, UNARY),
    Row("clip", lambda x: npm.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), UNARY, kinks=(-0.5, 0.7)),
    Row("nan_to_num", npm.nan_to_num, np.nan_to_num, UNARY),
    Row("cast", lambda x: npm.cast(x, x.dtype), lambda x: x, UNARY),
    Row("stop_gradient", lambda x: x * npm.stop_gradient(x), lambda x: x * x, UNARY, grad=False),
]

CONSTANTS = {   # name: (shendu call, NumPy reference) on the float inputs a, b
    "sign": (lambda a, b: npm.sign(a), lambda a, b: np.sign(a)),
    "floor": (lambda a, b: npm.floor(a), lambda a, b: np.floor(a)),
    "ceil": (lambda a, b: npm.ceil(a), lambda a, b: np.ceil(a)),
    "trunc": (lambda a, b: npm.trunc(a), lambda a, b: np.trunc(a)),
    "round": (lambda a, b: npm.round(a, 1), lambda a, b: np.round(a, 1)),
    "heaviside": (lambda a, b: npm.heaviside(a, 0.5), lambda a, b: np.heaviside(a, 0.5)),
    "signbit": (lambda a, b: npm.signbit(a), lambda a, b: np.signbit(a)),
    "floor_divide": (npm.floor_divide, np.floor_divide),
    "equal": (lambda a, b: npm.equal(a, a), lambda a, b: np.equal(a, a)),
    "not_equal": (npm.not_equal, np.not_equal),
    "greater": (npm.greater, np.greater),
    "greater_equal": (npm.greater_equal, np.greater_equal),
    "less": (npm.less, np.less),
    "less_equal": (npm.less_equal, np.less_equal),
    "logical_and": (lambda a, b: npm.logical_and(a > 0, b > 0), lambda a, b: np.logical_and(a > 0, b > 0)),
    "logical_or": (lambda a, b: npm.logical_or(a > 0, b > 0), lambda a, b: np.logical_or(a > 0, b > 0)),
    "logical_xor": (lambda a, b: npm.logical_xor(a > 0, b > 0), lambda a, b: np.logical_xor(a > 0, b > 0)),
    "logical_not": (lambda a, b: npm.logical_not(a > 0), lambda a, b: np.logical_not(a > 0)),
    "isnan": (lambda a, b: npm.isnan(npm.log(a)), lambda a, b: np.isnan(np.log(a))),
    "isinf": (lambda a, b: npm.isinf(a / 0), lambda a, b: np.isinf(a / 0)),
    "isposinf": (lambda a, b: npm.isposinf(a / 0), lambda a, b: np.isposinf(a / 0)),
    "isneginf": (lambda a, b: npm.isneginf(a / 0), lambda a, b: np.isneginf(a / 0)),
    "isfinite": (lambda a, b: npm.isfinite(npm.log(a)), lambda a, b: np.isfinite(np.log(a))),
    "isclose": (lambda a, b: npm.isclose(a, a + 1e-9), lambda a, b: np.isclose(a, a + 1e-9)),
    "allclose": (lambda a, b: npm.allclose(a, a + 1e-9), lambda a, b: np.allclose(a, a + 1e-9)),
    "saturate_cast": (lambda a, b: npm.saturate_cast(a * 1000, "int8"),
                      lambda a, b: np.clip(a * 1000, -128, 127).astype("int8")),
}
INT_CONSTANTS = {
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
    "left_shift": np.left_shift, "bitwise_left_shift": np.left_shift, "right_shift": np.right_shift,
    "bitwise_right_shift": np.right_shift, "gcd": np.gcd, "lcm": np.lcm,
    "bitwise_invert": lambda a, b: np.invert(a), "bitwise_not": lambda a, b: np.invert(a),
}


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_numpy_math_table(backend, row, shapes):
    check_row(row, shapes)


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_numpy_math_constants_match_numpy_and_carry_no_gradient(name):
    fn, ref = CONSTANTS[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.random.default_rng(0).uniform(-3, 3, (3, 4))
        b = np.random.default_rng(1).uniform(0.5, 2, (3, 4))
        expected = ref(a, b)
        got = fn(sd.tensor(a, requires_grad=True), sd.tensor(b))
    assert not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("name", sorted(INT_CONSTANTS))
def test_numpy_integer_ops_match_numpy(name):
    a, b = np.array([12, 7, 5, 0]), np.array([8, 3, 1, 2])
    fn = getattr(npm, name)
    got = fn(a) if name.startswith("bitwise_invert") or name == "bitwise_not" else fn(a, b)
    np.testing.assert_array_equal(got.numpy(), INT_CONSTANTS[name](a, b))


def test_every_numpy_math_function_is_checked():
    checked = {r.name for r in ROWS} | set(CONSTANTS) | set(INT_CONSTANTS)
    public = {name for name, f in vars(npm).items() if callable(f) and not isinstance(f, type)
              and not name.startswith("_") and getattr(f, "__module__", None) == npm.__name__}
    assert public - checked == set()


def test_integers_become_float32_where_keras_makes_them_float():
    assert npm.sqrt(np.arange(3)).dtype == np.float32
    assert npm.divide(np.arange(3), 2).dtype == np.float32
    assert npm.add(np.arange(3, dtype="int32"), np.ones(3, "float32")).dtype == np.float32
    np.testing.assert_array_equal(npm.floor_divide(np.arange(5), 2).numpy(), [0, 0, 1, 1, 2])


def test_divide_no_nan_gives_zero_and_a_finite_gradient_where_the_divisor_is_zero():
    a = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = sd.tensor(np.array([0.0, 4.0]), requires_grad=True)
    y = npm.divide_no_nan(a, b)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.5])
    y.sum().backward()
    assert np.isfinite(a.grad.numpy()).all() and np.isfinite(b.grad.numpy()).all()
