"""shendu/ops/activation.py: step, sigmoid, tanh, the ReLU family, softplus, gelu, softmax, log_softmax,
swish, softsign, hard_sigmoid."""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row

import shendu as sd
from shendu import ops
from shendu.ops import activation

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf)


def _np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _np_softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_elu(z, alpha):
    return np.where(z > 0, z, alpha * (np.exp(z) - 1))


UNARY = [((3, 4),), ((1, 5),), ((7,),), ((),), ((2, 1, 3),)]
AXIS_SHAPES = [((3, 4),), ((2, 3, 4),), ((1, 5),)]

ROWS = [
    Row("step", ops.step, lambda z: (z > 0).astype(z.dtype), UNARY, kinks=(0.0,)),
    Row("sigmoid", ops.sigmoid, _np_sigmoid, UNARY, domain=(-6.0, 6.0)),
    Row("tanh", ops.tanh, np.tanh, UNARY),
    Row("relu", ops.relu, lambda z: np.maximum(z, 0), UNARY, kinks=(0.0,)),
    Row("leaky_relu", ops.leaky_relu, lambda z: np.where(z > 0, z, 0.2 * z), UNARY, kinks=(0.0,)),
    Row("leaky_relu_alpha", lambda z: ops.leaky_relu(z, alpha=0.01), lambda z: np.where(z > 0, z, 0.01 * z),
        UNARY[:1], kinks=(0.0,)),
    Row("elu", ops.elu, lambda z: _np_elu(z, 1.0), UNARY, kinks=(0.0,)),
    Row("elu_alpha", lambda z: ops.elu(z, alpha=0.5), lambda z: _np_elu(z, 0.5), UNARY[:1], kinks=(0.0,)),
    Row("selu", ops.selu, lambda z: SELU_SCALE * _np_elu(z, SELU_ALPHA), UNARY, kinks=(0.0,)),
    Row("softplus", ops.softplus, lambda z: np.log1p(np.exp(z)), UNARY, domain=(-5.0, 5.0)),
    Row("gelu_exact", ops.gelu, lambda z: 0.5 * z * (1 + _erf(z / np.sqrt(2))), UNARY, domain=(-4.0, 4.0)),
    Row("gelu_approximate", lambda z: ops.gelu(z, approximate=True),
        lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3))), UNARY, domain=(-4.0, 4.0)),
    Row("swish", ops.swish, lambda z: z * _np_sigmoid(z), UNARY, domain=(-5.0, 5.0)),
    Row("softsign", ops.softsign, lambda z: z / (1 + np.abs(z)), UNARY),
    Row("hard_sigmoid", ops.hard_sigmoid, lambda z: np.clip(z / 6 + 0.5, 0, 1), UNARY, domain=(-5.0, 5.0),
        kinks=(-3.0, 3.0)),
]
for _axis in (0, 1, -1):
    ROWS.append(Row(f"softmax_axis{_axis}", lambda z, a=_axis: ops.softmax(z, axis=a),
                    lambda z, a=_axis: _np_softmax(z, a), AXIS_SHAPES, domain=(-3.0, 3.0)))
    ROWS.append(Row(f"log_softmax_axis{_axis}", lambda z, a=_axis: ops.log_softmax(z, axis=a),
                    lambda z, a=_axis: np.log(_np_softmax(z, a)), AXIS_SHAPES, domain=(-3.0, 3.0)))
ROWS.append(Row("softmax_default_axis", ops.softmax, lambda z: _np_softmax(z, -1), [((5,),), ((2, 3, 4),)]))


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_activation_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_activation_has_a_row():
    assert_every_op_has_a_row(activation, ROWS)


def test_step_has_zero_gradient():
    z = sd.tensor([-1.0, 2.0], requires_grad=True)
    ops.step(z).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_stay_finite_for_huge_inputs(dtype):
    z = sd.tensor(np.array([[-1e4, 0.0, 1e4]], dtype), requires_grad=True)
    expected = {
        "sigmoid": [0.0, 0.5, 1.0], "tanh": [-1.0, 0.0, 1.0], "softplus": [0.0, np.log(2.0), 1e4],
        "softmax": [0.0, 0.0, 1.0], "log_softmax": [-2e4, -1e4, 0.0], "elu": [-1.0, 0.0, 1e4],
        "gelu": [0.0, 0.0, 1e4], "swish": [0.0, 0.0, 1e4], "softsign": [-1e4 / 10001, 0.0, 1e4 / 10001],
    }
    for name, want in expected.items():
        z.grad = None
        with np.errstate(over="raise", invalid="raise", divide="raise"):   # no inf, no 0 * inf
            y = getattr(ops, name)(z)
            (y * y).sum().backward()
        assert y.dtype == dtype
        np.testing.assert_allclose(y.numpy()[0], want, rtol=1e-6, atol=1e-7, err_msg=name)
        assert np.isfinite(z.grad.numpy()).all(), name


def test_softmax_rows_sum_to_one_and_its_gradient_of_the_sum_is_zero():
    z = sd.tensor(np.random.default_rng(0).normal(size=(4, 6)), requires_grad=True)
    a = ops.softmax(z, axis=1)
    np.testing.assert_allclose(a.numpy().sum(axis=1), np.ones(4))
    a.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), np.zeros((4, 6)), atol=1e-12)


def test_softmax_of_integers_is_computed_in_float64():
    want = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    got = ops.softmax(sd.tensor(np.array([[1, 2, 3]])), axis=-1).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got[0], want, rtol=1e-15)


def test_relu_gradient_is_zero_at_and_below_zero():
    z = sd.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    ops.relu(z).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("alpha", [0.2, 0.0, 1.0, 1.5, -0.3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_leaky_relu_is_the_masked_formula_exactly(monkeypatch, compiled, alpha, dtype):
    if not compiled:
        monkeypatch.setitem(activation.compiled._built, "leaky_relu", None)    # as without numba
    z = np.random.default_rng(0).standard_normal((3, 5, 4, 2)).astype(dtype)
    z[0, 0, 0] = 0.0                                            # at the kink: the slope alpha, like z <= 0
    ga = np.random.default_rng(1).standard_normal(z.shape).astype(dtype)
    x = sd.tensor(z, requires_grad=True)
    a = ops.leaky_relu(x, alpha=alpha)
    a.backward(ga)
    assert a.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(a.numpy(), np.where(z > 0, z, z * dtype(alpha)))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(z > 0, ga, ga * dtype(alpha)))


def _softmax_both_ways(z, ga, axis, compiled, monkeypatch):
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setitem(activation.compiled._built, "softmax_rows", None)     # as without numba
        x = sd.tensor(z, requires_grad=True)
        a = ops.softmax(x, axis=axis)
        a.backward(ga)
        if compiled:
            assert activation.compiled._built.get("softmax_rows") is not None      # no silent fallback
        return a.numpy(), x.grad.numpy()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
@pytest.mark.parametrize("shape, axis", [((4, 2, 8, 64), -1), ((3, 1), -1), ((5, 7), 1), ((2, 3, 4), 1),
                                         ((1, 33), -1)])
def test_softmax_row_loops_match_the_numpy_form(monkeypatch, shape, axis, dtype, tol):
    """Along the last axis, with numba, compiled row loops around NumPy's exp; elsewhere the NumPy form."""
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    if shape[-1] > 2:
        z[0, ..., 1] = -1e9                                 # a masked score, as attention masks write them
    ga = rng.standard_normal(shape).astype(dtype)
    fast = _softmax_both_ways(z, ga, axis, True, monkeypatch)
    plain = _softmax_both_ways(z, ga, axis, False, monkeypatch)
    for got, want in zip(fast, plain):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(fast[0].sum(axis=axis), 1.0, rtol=10 * tol)


def test_softmax_row_loops_keep_nan_and_inf_as_numpy(monkeypatch):
    z = np.array([[1.0, np.nan, 2.0], [-np.inf, 0.0, 1.0], [np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
    ga = np.ones_like(z)
    with np.errstate(invalid="ignore"):
        fast = _softmax_both_ways(z, ga, -1, True, monkeypatch)
        plain = _softmax_both_ways(z, ga, -1, False, monkeypatch)
    for got, want in zip(fast, plain):
        np.testing.assert_array_equal(got, want)
