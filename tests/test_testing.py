"""shendu/testing.py: gradcheck passes correct ops and catches wrong ones; numerical_grad; assert_close."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.testing import assert_close, gradcheck, numerical_grad


class WrongSquare(sd.Function):
    """y = x²  with a deliberately wrong backward (dx = dy * x instead of dy * 2x)"""
    def forward(self, x):
        self.save(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved
        return gy * x


class WrongSecondInput(sd.Function):
    """y = a * b  with the gradient of b wrong only at element (1, 2)"""
    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        gb = gy * a
        gb[1, 2] += 1.0
        return gy * b, gb


class NanGradient(sd.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return gy * np.nan


def test_gradcheck_passes_a_correct_op():
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert gradcheck(lambda x: ops.tanh(x) * x, x) is True
    assert gradcheck(lambda a, b: a @ b, x, np.ones((4, 2))) is True


def test_gradcheck_fails_a_wrong_backward_naming_input_and_element():
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(2, 2\)\): at index \([01], [01]\) the analytic"):
        gradcheck(lambda x: WrongSquare.apply(x), x)


def test_gradcheck_names_the_wrong_input_and_the_wrong_element():
    a, b = np.ones((2, 3)), np.full((2, 3), 0.5)
    with pytest.raises(AssertionError, match=r"input 1 \(shape \(2, 3\)\): at index \(1, 2\)"):
        gradcheck(lambda a, b: WrongSecondInput.apply(a, b), a, b)


def test_gradcheck_fails_a_nan_gradient():
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda x: NanGradient.apply(x), np.ones(3))


def test_gradcheck_checks_float32_inputs_in_float64_and_passes_integers_through():
    x = sd.tensor(np.array([0.5, 1.5], np.float32))
    idx = np.array([1, 1, 0])
    seen = []

    def fn(x, i):
        seen.append((x.dtype, i.dtype, i.requires_grad))
        return x[i] * 3.0
    assert gradcheck(fn, x, idx)
    assert seen[0] == (np.float64, idx.dtype, False)


def test_gradcheck_rejects_a_float32_result_and_a_non_tensor_result():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: ops.cast(x, "float32"), np.ones(2))
    with pytest.raises(TypeError, match="Tensor"):
        gradcheck(lambda x: x.numpy(), np.ones(2))


def test_numerical_grad_of_a_known_function_and_input_restored():
    x = np.array([1.0, -2.0, 0.5])
    g = numerical_grad(lambda: float((x ** 3).sum()), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])      # every nudge undone


def test_assert_close_passes_within_tolerance_and_names_the_worst_element():
    assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-7]))
    assert_close(np.array([np.inf, np.nan]), np.array([np.inf, np.nan]))
    with pytest.raises(AssertionError, match=r"weights: at index \(1,\) got 2.5"):
        assert_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), name="weights")
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.ones(2), np.ones(3))
    with pytest.raises(AssertionError):
        assert_close(np.array([np.nan]), np.array([1.0]))
    with pytest.raises(AssertionError):
        assert_close(np.array([np.inf]), np.array([-np.inf]))


def test_gradcheck_and_numerical_grad_handle_non_contiguous_inputs():
    x = np.arange(12.0).reshape(3, 4).T                     # a transposed view: reshape(-1) would copy
    g = numerical_grad(lambda: float((x ** 2 * np.arange(1.0, 13.0).reshape(4, 3)).sum()), x)
    np.testing.assert_allclose(g, 2 * x * np.arange(1.0, 13.0).reshape(4, 3), rtol=1e-7)
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda x: WrongSquare.apply(x), x + 1.0)
    assert gradcheck(lambda x: x * x, x)
