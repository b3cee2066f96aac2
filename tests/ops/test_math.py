"""shendu/ops/math.py: trigonometric and hyperbolic functions, log1p/expm1, cbrt, erf/erfinv, arctan2,
and the products and scans (prod, cumsum, cumprod)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from helpers import Row, assert_every_op_has_a_row, cases, check_row, signed

import shendu as sd
from shendu import ops
from shendu.ops import math as math_ops

UNARY = [((3, 4),), ((1, 5),), ((7,),), ((),), ((2, 1, 3),)]


def _with_zeros(rng, shape):
    """Values in [-2, 2] with about a third set to exactly 0 (products must not divide by them)."""
    x = rng.uniform(-2, 2, shape)
    return np.where(rng.random(shape) < 0.33, 0.0, x)


ROWS = [
    Row("sin", ops.sin, np.sin, UNARY),
    Row("cos", ops.cos, np.cos, UNARY),
    Row("tan", ops.tan, np.tan, UNARY, domain=(-1.2, 1.2)),
    Row("arcsin", ops.arcsin, np.arcsin, UNARY, domain=(-0.9, 0.9)),
    Row("arccos", ops.arccos, np.arccos, UNARY, domain=(-0.9, 0.9)),
    Row("arctan", ops.arctan, np.arctan, UNARY),
    Row("arctan2", ops.arctan2, np.arctan2, [((3, 4), (3, 4)), ((2, 1), (1, 3)), ((), (4,))],
        domain=[signed(0.3, 2.0), signed(0.3, 2.0)]),
    Row("sinh", ops.sinh, np.sinh, UNARY),
    Row("cosh", ops.cosh, np.cosh, UNARY),
    Row("arcsinh", ops.arcsinh, np.arcsinh, UNARY),
    Row("arccosh", ops.arccosh, np.arccosh, UNARY, domain=(1.2, 3.0)),
    Row("arctanh", ops.arctanh, np.arctanh, UNARY, domain=(-0.9, 0.9)),
    Row("log1p", ops.log1p, np.log1p, UNARY, domain=(-0.9, 3.0)),
    Row("expm1", ops.expm1, np.expm1, UNARY),
    Row("cbrt", ops.cbrt, np.cbrt, UNARY, domain=signed(0.2, 3.0)),
    Row("erf", ops.erf, scipy.special.erf, UNARY),
    Row("erfinv", ops.erfinv, scipy.special.erfinv, UNARY, domain=(-0.9, 0.9)),
    Row("prod_all", ops.prod, np.prod, UNARY),
    Row("prod_axis", lambda x: ops.prod(x, axis=1), lambda x: np.prod(x, axis=1), [((3, 4),), ((2, 1, 3),)]),
    Row("prod_axes_keep", lambda x: ops.prod(x, axis=(0, 2), keepdims=True),
        lambda x: np.prod(x, axis=(0, 2), keepdims=True), [((2, 3, 4),), ((1, 1, 1),)]),
    Row("prod_zeros", lambda x: ops.prod(x, axis=-1), lambda x: np.prod(x, axis=-1), [((4, 3),), ((5, 2),)],
        domain=_with_zeros),
    Row("cumsum_axis", lambda x: ops.cumsum(x, 1), lambda x: np.cumsum(x, 1), [((3, 4),), ((2, 1, 3),), ((1, 1),)]),
    Row("cumsum_flat", ops.cumsum, np.cumsum, [((3, 4),), ((),)]),
    Row("cumprod_axis", lambda x: ops.cumprod(x, -1), lambda x: np.cumprod(x, -1), [((3, 4),), ((2, 1, 3),)]),
    Row("cumprod_zeros", lambda x: ops.cumprod(x, 0), lambda x: np.cumprod(x, 0), [((5, 2),)], domain=_with_zeros),
    Row("cumprod_flat", ops.cumprod, np.cumprod, [((2, 3),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_math_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_math_op_has_a_row():
    assert_every_op_has_a_row(math_ops, ROWS)


def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    x = sd.tensor(np.array([2.0, 0.0, 3.0]), requires_grad=True)
    ops.prod(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0, 0.0])
