"""shendu/ops/reduce.py: sum, mean, max, min, logsumexp over None / int / tuple axes, with keepdims."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row, distinct

import shendu as sd
from shendu import ops
from shendu.ops import reduce


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis) if axis is not None else y.reshape(())


# (input shape, axis) cases: all axes, one axis (positive, negative), several axes, batch 1, odd sizes
AXES = [((3, 4), None), ((3, 4), 0), ((3, 4), -1), ((2, 3, 5), (0, 2)), ((2, 3, 5), (-1, 1)), ((1, 5), 0),
        ((7,), 0), ((), None), ((2, 1, 3), 1)]


def _rows(name, op, ref, domain=(-2.0, 2.0)):
    rows = []
    for keepdims in (False, True):
        for shape, axis in AXES:
            rows.append(Row(f"{name}_axis{str(axis).replace(' ', '')}_keep{int(keepdims)}",
                            lambda x, axis=axis, keepdims=keepdims: op(x, axis=axis, keepdims=keepdims),
                            lambda x, axis=axis, keepdims=keepdims: ref(x, axis=axis, keepdims=keepdims),
                            [(shape,)], domain=domain))
    return rows


ROWS = (_rows("sum", ops.sum, np.sum) + _rows("mean", ops.mean, np.mean)
        + _rows("max", ops.max, np.max, domain=distinct(-2.0, 2.0))     # no ties: max is differentiable
        + _rows("min", ops.min, np.min, domain=distinct(-2.0, 2.0))
        + _rows("logsumexp", ops.logsumexp, _np_logsumexp)
        + [Row("tensor_method_sum", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [((3, 4),)]),
           Row("tensor_method_mean", lambda x: x.mean(0, keepdims=True), lambda x: x.mean(0, keepdims=True),
               [((3, 4),)]),
           Row("tensor_method_max", lambda x: x.max(-1), lambda x: x.max(-1), [((3, 4),)], domain=distinct(-1, 1)),
           Row("tensor_method_min", lambda x: x.min(), lambda x: x.min(), [((3, 4),)], domain=distinct(-1, 1))])


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_reduce_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_reduce_op_has_a_row():
    assert_every_op_has_a_row(reduce, ROWS)


def test_max_shares_the_gradient_equally_among_ties():
    x = sd.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)
    ops.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


def test_min_over_all_axes_picks_the_smallest():
    x = sd.tensor([[1.0, -3.0], [2.0, 0.0]], requires_grad=True)
    y = ops.min(x)
    assert y.shape == () and y.item() == -3.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1], [0, 0]])


def test_logsumexp_is_stable_for_huge_and_minus_infinite_inputs():
    x = sd.tensor(np.array([[1e4, 1e4 - 1.0], [-1e4, -1e4]]), requires_grad=True)
    y = ops.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.numpy(), [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(2.0)])
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy().sum(axis=1), [1.0, 1.0])
    z = ops.logsumexp(sd.tensor([-np.inf, 0.0]))
    assert z.item() == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        assert ops.logsumexp(sd.tensor([-np.inf, -np.inf])).item() == -np.inf


def test_mean_of_float32_stays_float32_and_divides_by_the_reduced_count():
    x = sd.tensor(np.ones((4, 5), np.float32), requires_grad=True)
    y = ops.mean(x, axis=(0, 1))
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), np.full((4, 5), 1 / 20))


def test_max_gradient_of_float32_is_made_in_float32_and_shares_ties():
    """The share dy / count is float32 (an int64 count made the whole gradient float64 before the engine's cast)."""
    from shendu.ops import reduce as reduce_module

    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], np.float32)
    fn = reduce_module.Max()
    fn.axis, fn.keepdims = 1, False
    fn.forward(x)
    (gx,) = (fn.backward(np.array([1.0, 4.0], np.float32)),)
    assert gx.dtype == np.float32
    np.testing.assert_array_equal(gx, [[0.0, 0.5, 0.5], [4.0, 0.0, 0.0]])
