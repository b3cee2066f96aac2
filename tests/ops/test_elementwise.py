"""shendu/ops/elementwise.py: arithmetic, math, clip, maximum/minimum, where, cast."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row, signed

import shendu as sd
from shendu import ops
from shendu.ops import elementwise

# (a, b) shape pairs: equal, broadcasting both ways, scalars, size-1 axes, batch 1, odd sizes
BINARY = [((3, 4), (3, 4)), ((3, 1, 4), (2, 1)), ((2, 1), (3, 1, 4)), ((), (3,)), ((5,), ()), ((), ()),
          ((1, 5), (7, 1)), ((1, 1), (1, 1)), ((2, 3, 1), (1, 3, 5))]
UNARY = [((3, 4),), ((1, 5),), ((7,),), ((),), ((2, 1, 3),)]

ROWS = [
    Row("add", ops.add, np.add, BINARY),
    Row("sub", ops.sub, np.subtract, BINARY),
    Row("mul", ops.mul, np.multiply, BINARY),
    Row("div", ops.div, np.divide, BINARY, domain=[(-2.0, 2.0), signed(0.5, 2.0)]),
    Row("neg", ops.neg, np.negative, UNARY),
    Row("pow_scalar_3", lambda x: x ** 3, lambda x: x ** 3, UNARY),
    Row("pow_scalar_half", lambda x: x ** 0.5, np.sqrt, UNARY, domain=(0.2, 3.0)),
    Row("pow_scalar_neg", lambda x: ops.pow(x, -1.5), lambda x: x ** -1.5, UNARY, domain=(0.2, 3.0)),
    Row("pow_scalar_base", lambda x: 2.0 ** x, lambda x: 2.0 ** x, UNARY),
    Row("pow_tensor", ops.pow, np.power, BINARY, domain=[(0.3, 2.0), (-2.0, 2.0)]),
    Row("exp", ops.exp, np.exp, UNARY),
    Row("log", ops.log, np.log, UNARY, domain=(0.1, 3.0)),
    Row("sqrt", ops.sqrt, np.sqrt, UNARY, domain=(0.1, 3.0)),
    Row("square", ops.square, np.square, UNARY),
    Row("abs", ops.abs, np.abs, UNARY, domain=signed(0.1, 2.0)),
    Row("clip", lambda x: ops.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), UNARY, kinks=(-0.5, 0.7)),
    Row("maximum", ops.maximum, np.maximum, BINARY),
    Row("minimum", ops.minimum, np.minimum, BINARY),
    Row("maximum_scalar", lambda x: ops.maximum(x, 0.3), lambda x: np.maximum(x, 0.3), UNARY, kinks=(0.3,)),
    Row("minimum_scalar", lambda x: ops.minimum(0.3, x), lambda x: np.minimum(0.3, x), UNARY, kinks=(0.3,)),
    Row("where", lambda a, b: ops.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b), BINARY, kinks=(0.0,)),
    Row("where_const", lambda x: ops.where(x < 0.5, x * 2, 0.0), lambda x: np.where(x < 0.5, x * 2, 0.0),
        UNARY, kinks=(0.5,)),
    Row("where_broadcast_cond", lambda a, b: ops.where(np.arange(4) % 2 == 0, a, b),
        lambda a, b: np.where(np.arange(4) % 2 == 0, a, b), [((3, 1), ()), ((1,), (2, 1))]),
    # float64 -> extended precision -> float64: Cast's backward runs twice without losing digits
    Row("cast", lambda x: ops.cast(ops.cast(x, np.longdouble) * 3, np.float64), lambda x: x * 3, UNARY,
        float32=False),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_elementwise_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_elementwise_op_has_a_row():
    assert_every_op_has_a_row(elementwise, ROWS)


def test_cast_changes_dtype_and_casts_the_gradient_back():
    x = sd.tensor(np.array([1.5, -2.0], np.float32), requires_grad=True)
    y = ops.cast(x, "float64")
    assert y.dtype == np.float64
    y.backward(np.array([0.1, 0.2]))
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.2], rtol=1e-6)
    assert ops.cast(x, "float32") is x        # no-op cast records nothing


def test_cast_to_int_truncates_and_astype_is_cast():
    x = sd.tensor([1.7, -2.2])
    np.testing.assert_array_equal(x.astype("int32").numpy(), [1, -2])
    assert x.astype("int32").dtype == np.int32


def test_maximum_tie_sends_the_gradient_to_one_input():
    a = sd.tensor([1.0, 2.0], requires_grad=True)
    b = sd.tensor([1.0, 3.0], requires_grad=True)
    ops.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy() + b.grad.numpy(), [1.0, 1.0])   # not 2 at the tie
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 1.0])


def test_clip_gradient_is_zero_outside_the_range():
    x = sd.tensor([-3.0, 0.1, 4.0], requires_grad=True)
    ops.clip(x, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_where_gives_no_gradient_to_the_unpicked_branch():
    a = sd.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = sd.tensor([4.0, 5.0, 6.0], requires_grad=True)
    ops.where(np.array([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 1, 0])


def test_pow_with_tensor_exponent_differentiates_both_operands():
    a = sd.tensor(np.array([2.0, 3.0]), requires_grad=True)
    b = sd.tensor(np.array([3.0, 0.5]), requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3 * 2.0 ** 2, 0.5 * 3.0 ** -0.5])
    np.testing.assert_allclose(b.grad.numpy(), [8 * np.log(2.0), np.sqrt(3.0) * np.log(3.0)])


def test_scalar_operands_take_the_tensor_dtype():
    for dtype in (np.float32, np.float64):
        x = sd.tensor(np.array([1.0, 2.0], dtype), requires_grad=True)
        for y in (x + 1, 1 - x, x * 0.1, 0.1 / x, x ** 2, 2 ** x, ops.maximum(x, 0.5), ops.where(x > 1, x, 0.0)):
            assert y.dtype == dtype
    x64 = sd.tensor(np.array([3.0]))
    assert (x64 * 0.1).numpy()[0] == 3.0 * 0.1          # 0.1 kept in float64, not rounded to float32
