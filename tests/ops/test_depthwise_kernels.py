"""shendu/ops/depthwise_kernels.py: the compiled 2-D depthwise loops against depthwise.py's einsum form.

The einsum form (the definition, and the fallback) is checked against PyTorch and by gradcheck in
test_conv_nd.py, which also runs the compiled loops on its 2-D cases. Here: every compiled loop against the
einsum form on edge shapes (batch 1, a depth multiplier, strides, dilation, 'same' with an even kernel,
one channel), in float32 and float64, split over threads, and the fallback when numba fails. The row loops
(width stride 1, multiplier 1) and the per-pixel loops (the rest) each get several cases.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu import ops
from shendu.ops import compiled, depthwise_kernels, window
from shendu.testing import assert_close, gradcheck

pytestmark = pytest.mark.skipif(compiled.build("probe", lambda numba: True) is None, reason="needs numba")

# x shape, kernel (kh, kw, channels, multiplier), strides, padding, dilation
CASES = [
    ((1, 5, 5, 3), (3, 3, 3, 1), 1, "valid", 1),        # batch 1
    ((2, 7, 6, 2), (2, 3, 2, 3), 2, "same", 1),         # depth multiplier 3, stride 2, even kernel axis
    ((2, 8, 7, 4), (3, 2, 4, 2), 1, "same", (2, 1)),    # dilation
    ((3, 6, 6, 16), (4, 4, 16, 1), (2, 1), "same", 1),  # even kernel 'same': the extra pad after
    ((2, 5, 4, 1), (3, 3, 1, 1), 1, "same", 1),         # one channel
    ((2, 1, 9, 5), (1, 3, 5, 1), 1, "valid", 1),        # a size-1 spatial axis
    ((2, 7, 7, 3), (3, 3, 3, 1), 2, "same", 1),         # multiplier 1 at width stride 2: the per-pixel loops
    ((2, 8, 9, 3), (3, 3, 3, 1), 1, "same", (1, 2)),    # the row loops with width dilation
]


def _grads(x, K, b, strides, padding, dilation, dtype):
    ts = [shendu.tensor(a.astype(dtype), requires_grad=True) for a in (x, K, b)]
    y = ops.depthwise_conv(*ts, strides, padding, dilation)
    seed = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    (y * shendu.tensor(seed)).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in ts]


def _arrays(x_shape, k_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(k_shape), rng.standard_normal(k_shape[-2] * k_shape[-1])


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CASES, ids=str)
def test_compiled_loops_match_the_einsum_form(x_shape, k_shape, strides, padding, dilation, dtype, tol, monkeypatch):
    x, K, b = _arrays(x_shape, k_shape)
    fast = _grads(x, K, b, strides, padding, dilation, dtype)
    assert depthwise_kernels._kernels() is not None                  # no silent fallback
    monkeypatch.setitem(compiled._built, depthwise_kernels.NAME, None)
    plain = _grads(x, K, b, strides, padding, dilation, dtype)
    for got, want in zip(fast, plain):
        assert got.dtype == dtype
        assert_close(got, want, atol=tol, rtol=tol)


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CASES[:4], ids=str)
def test_compiled_loops_gradcheck(x_shape, k_shape, strides, padding, dilation):
    x, K, b = (shendu.tensor(a) for a in _arrays(x_shape, k_shape))
    assert gradcheck(lambda x, K, b: ops.depthwise_conv(x, K, b, strides, padding, dilation), x, K, b)


def test_split_over_threads_gives_the_one_part_values(monkeypatch):
    x, K, b = _arrays((5, 9, 8, 6), (3, 3, 6, 2))
    one = _grads(x, K, b, 2, "same", 1, np.float64)
    monkeypatch.setattr(compiled, "SPLIT", True)
    monkeypatch.setattr(compiled, "threads", lambda: 3)             # three uneven parts: 1, 2, 2 images
    monkeypatch.setattr(compiled, "MIN_PART_WORK", 1)
    split = _grads(x, K, b, 2, "same", 1, np.float64)
    for got, want in zip(split, one):
        assert_close(got, want, atol=1e-12, rtol=1e-12)


def test_only_the_wanted_gradients_are_made():
    x, K, b = _arrays((2, 6, 6, 3), (3, 3, 3, 2))
    frozen = shendu.tensor(x)                                        # an input that needs no gradient
    kernel = shendu.tensor(K, requires_grad=True)
    ops.depthwise_conv(frozen, kernel, None, 1, "same").sum().backward()
    assert frozen.grad is None
    full = shendu.tensor(K, requires_grad=True)
    ops.depthwise_conv(shendu.tensor(x, requires_grad=True), full, None, 1, "same").sum().backward()
    assert_close(kernel.grad.numpy(), full.grad.numpy(), atol=1e-12, rtol=1e-12)


def test_a_compile_failure_falls_back_to_the_einsum_form(monkeypatch):
    x, K, b = _arrays((2, 6, 5, 3), (3, 3, 3, 1))
    want = _grads(x, K, b, 1, "same", 1, np.float64)
    monkeypatch.setitem(compiled._built, depthwise_kernels.NAME, depthwise_kernels._kernels())
    monkeypatch.setattr(compiled, "call", lambda name, kernel, *args: False)      # every compile fails
    got = _grads(x, K, b, 1, "same", 1, np.float64)
    for g, w in zip(got, want):
        assert_close(g, w, atol=1e-12, rtol=1e-12)


def test_other_ranks_and_mixed_dtypes_take_the_einsum_form():
    one_d = window.geometry("t", (9,), (3,), (1,), (1,), "valid")
    assert depthwise_kernels.forward(np.zeros((2, 9, 3)), np.zeros((3, 3, 1)), None, one_d) is None
    win = window.geometry("t", (5, 5), (3, 3), (1, 1), (1, 1), "valid")
    assert depthwise_kernels.forward(np.zeros((1, 5, 5, 2), np.float32), np.zeros((3, 3, 2, 1)), None, win) is None


def test_a_backward_compile_failure_after_a_compiled_forward_uses_the_einsum_form(monkeypatch):
    x, K, b = _arrays((2, 6, 5, 3), (3, 3, 3, 2))
    want = _grads(x, K, b, 1, "same", 1, np.float64)
    kernels = depthwise_kernels._kernels()
    real = compiled.call
    monkeypatch.setattr(compiled, "call", lambda name, kernel, *args: False if kernel in (
        kernels[1], kernels[2], kernels[4]) else real(name, kernel, *args))     # only the backward loops fail
    got = _grads(x, K, b, 1, "same", 1, np.float64)
    for g, w in zip(got, want):
        assert_close(g, w, atol=1e-12, rtol=1e-12)
