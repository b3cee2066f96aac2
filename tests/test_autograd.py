"""shendu/autograd.py: the graph walk, gradient accumulation, no_grad, retain_graph, broadcasting, dtypes."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import autograd, ops


# ------------------------------------------------------------------------------ long graphs, no recursion
def test_2000_step_chain_backpropagates_without_recursion_and_matches_manual_chain_rule():
    steps = 2000
    rng = np.random.default_rng(0)
    x0, w0 = rng.uniform(-1, 1, 4), np.array([1.5, 0.9, -1.2, 2.0])
    x = sd.tensor(x0, requires_grad=True)
    w = sd.tensor(w0, requires_grad=True)
    h = x
    for _ in range(steps):
        h = ops.tanh(h * w)
    h.sum().backward()

    hs = [x0]                              # forward by hand, then the chain rule backwards
    for _ in range(steps):
        hs.append(np.tanh(hs[-1] * w0))
    np.testing.assert_allclose(h.numpy(), hs[-1])
    gh, gw = np.ones(4), np.zeros(4)
    for k in range(steps, 0, -1):
        gz = gh * (1 - hs[k] ** 2)         # through tanh
        gw += gz * hs[k - 1]
        gh = gz * w0
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), gh, rtol=1e-10, atol=1e-300)
    assert np.abs(gw).max() > 1e-3         # the check is not vacuous


def test_2000_step_rnn_recurrence_matches_manual_bptt():
    steps, H = 2000, 3
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(H, H)) * 0.6
    xs0 = rng.normal(size=(steps, 2, H)) * 0.5
    W = sd.tensor(W0, requires_grad=True)
    xs = sd.tensor(xs0, requires_grad=True)
    h = sd.tensor(np.zeros((2, H)))
    for t in range(steps):
        h = ops.tanh(h @ W + xs[t])
    (h * np.array([1.0, -2.0, 0.5])).sum().backward()

    hs = [np.zeros((2, H))]
    for t in range(steps):
        hs.append(np.tanh(hs[-1] @ W0 + xs0[t]))
    gh = np.broadcast_to(np.array([1.0, -2.0, 0.5]), (2, H)).copy()
    gW, gxs = np.zeros_like(W0), np.zeros_like(xs0)
    for t in range(steps, 0, -1):
        gz = gh * (1 - hs[t] ** 2)
        gW += hs[t - 1].T @ gz
        gxs[t - 1] = gz
        gh = gz @ W0.T
    np.testing.assert_allclose(W.grad.numpy(), gW, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xs.grad.numpy(), gxs, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------- accumulation
def test_diamond_graph_accumulates_both_paths():
    a = sd.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    b = a * 3.0
    c = ops.exp(a)
    y = (a * b + a * c).sum()               # 3a² + a e^a
    y.backward()
    a0 = a.numpy()
    np.testing.assert_allclose(a.grad.numpy(), 6 * a0 + np.exp(a0) * (1 + a0))


def test_tensor_used_twice_in_one_op():
    x = sd.tensor(np.array([2.0, -3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, -6.0])


def test_grad_accumulates_across_two_backward_calls_until_zeroed():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2 + 3, 4 + 3])
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_inputs_that_do_not_require_grad_get_no_grad():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = sd.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3, 4])


def test_multi_output_op_with_some_outputs_unused():
    x = sd.tensor(np.arange(6.0), requires_grad=True)
    first, _, last = ops.split(x, 3)
    (first * last).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4, 5, 0, 0, 0, 1])


# ------------------------------------------------------------------------------------------------ no_grad
def test_no_grad_records_nothing_and_restores_the_mode():
    x = sd.tensor(np.ones(3), requires_grad=True)
    with sd.no_grad():
        assert not sd.is_grad_enabled()
        y = ops.tanh(x * 2.0 + 1.0)
        assert y.requires_grad is False and y.creator is None
        with sd.enable_grad():
            z = x * 2.0
            assert z.requires_grad and z.creator is not None
    assert sd.is_grad_enabled()
    with pytest.raises(KeyError):
        with sd.no_grad():
            raise KeyError("boom")
    assert sd.is_grad_enabled()               # restored after an exception too
    w = x * 2.0
    assert w.requires_grad and w.creator is not None


# ------------------------------------------------------------------------------------------ retain_graph
def test_second_backward_needs_retain_graph():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (ops.exp(x) * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()                              # allowed: the graph was kept
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()                          # the second call freed it


def test_backward_twice_without_retain_graph_raises():
    x = sd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


# ---------------------------------------------------------------------------------------------- errors
def test_backward_on_non_scalar_without_grad_names_the_shape():
    x = sd.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*\(2, 3\)"):
        (x * 2.0).backward()


def test_backward_with_grad_of_wrong_shape_names_both_shapes():
    x = sd.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3,\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_tensor_not_requiring_grad_raises():
    x = sd.tensor(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2.0).sum().backward()


def test_backward_returning_a_wrongly_shaped_gradient_raises():
    class Bad(sd.Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy.T                        # (3, 2) for a (2, 3) input: a bug, not a broadcast

    x = sd.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        Bad.apply(x).backward(np.ones((2, 3)))


# ----------------------------------------------------------------------------------------- broadcasting
def test_broadcast_gradients_are_summed_back_to_each_operand_shape():
    a = sd.tensor(np.ones((3, 1, 4)), requires_grad=True)
    b = sd.tensor(np.full((2, 1), 2.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1, 4) and b.grad.shape == (2, 1)
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 1, 4), 4.0))    # 2 rows of b, each 2.0
    np.testing.assert_array_equal(b.grad.numpy(), np.full((2, 1), 12.0))      # 3 * 4 ones
    s = sd.tensor(np.array(5.0), requires_grad=True)
    (s + np.ones((2, 3))).sum().backward()
    assert s.grad.shape == () and s.grad.item() == 6.0


def test_sum_to_reduces_leading_and_size_one_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(autograd.sum_to(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(autograd.sum_to(g, ()), g.sum())
    assert autograd.sum_to(g, (2, 3, 4)) is g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("g_shape, shape", [
    ((4, 5, 2, 5, 2, 3), (4, 5, 1, 5, 1, 3)),          # an upsampling's repeats: inner axes of 2, added by slices
    ((2, 3, 9, 4), (2, 3, 1, 4)),                      # an inner axis of 9: NumPy's reduction
    ((6, 3, 4), (4,)),                                 # leading axes and a small inner one together
    ((3, 8, 1), (3, 1, 1)),
    ((5, 7), (5, 1)),                                  # the last axis: NumPy's reduction
])
def test_sum_to_over_small_inner_axes_equals_numpys_sum(g_shape, shape, dtype):
    g = np.random.default_rng(0).standard_normal(g_shape).astype(dtype)
    lead = len(g_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g_shape[i + lead] != 1)
    got = autograd.sum_to(g, shape)
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, g.sum(axis=axes, keepdims=True).reshape(shape), rtol=1e-6, atol=1e-6)
    if lead == 0:
        got[...] = 0                                   # a fresh array: the gradient given is left alone
        assert np.any(g != 0)


# ---------------------------------------------------------------------------------------------- dtypes
def test_float32_stays_float32_through_ops_and_gradients():
    x = sd.tensor(np.array([[0.5, -1.0], [2.0, 0.25]], np.float32), requires_grad=True)
    W = sd.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = ops.softmax(ops.tanh(x @ W) * 0.1 + 1, axis=-1)
    loss = (ops.log(y) ** 2).mean() / 3 - 2.5
    assert y.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and W.grad.dtype == np.float32


def test_float64_stays_float64_and_python_scalars_keep_its_precision():
    x = sd.tensor(np.array([1.0, 3.0]), requires_grad=True)
    y = x * 0.1 + 1e-12
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy(), np.array([1.0, 3.0]) * 0.1 + 1e-12)
    y.sum().backward()
    assert x.grad.dtype == np.float64


def test_python_scalars_do_not_upcast_float32():
    x = sd.tensor(np.array([1.0, 3.0], np.float32), requires_grad=True)
    for y in (x * 0.1, 0.1 * x, x + 1e-12, x / 3.0, 2.0 - x, x ** 0.5, ops.sum(x) * 0.1):
        assert y.dtype == np.float32
    (x * 0.1).sum().backward()
    assert x.grad.dtype == np.float32


def test_gradient_is_cast_to_the_input_dtype_when_an_op_promotes():
    x = sd.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x * np.array([0.5, 0.25])             # float64 array: NumPy promotes the result
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.25])


def test_leaf_gradients_are_separate_writable_arrays():
    a = sd.tensor(np.ones(3), requires_grad=True)
    b = sd.tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()                      # Add hands the same gy to both inputs
    assert a.grad.data is not b.grad.data and not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 2                              # each is writable and only its own
    np.testing.assert_array_equal(a.grad.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0, 1.0])


def test_leaf_gradient_is_never_a_view_of_a_broadcast_or_the_callers_array():
    w = sd.tensor(np.ones((2, 3)), requires_grad=True)
    (w * 3.0).sum().backward()                    # sum's backward broadcasts gy, a read-only view
    assert w.grad.data.flags.writeable and w.grad.data.base is None
    seed = np.ones((2, 3))
    w2 = sd.tensor(np.ones((2, 3)), requires_grad=True)
    w2.backward(seed)                             # a leaf given the caller's gradient gets a copy of it
    w2.grad.data += 1
    np.testing.assert_array_equal(seed, np.ones((2, 3)))
