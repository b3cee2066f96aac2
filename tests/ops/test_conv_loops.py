"""shendu/ops/conv_loops.py's compiled loops against their plain NumPy formulas.

Each loop (the ReLU mask, bias + ReLU, max pooling with its argmax, and the pooling gradient) must give the
formula's values in float64 (1e-10) and float32 (1e-5) on edge shapes: batch 1, odd sizes, overlapping
and strided windows, 'same' padding with even windows, ties and NaN. The NumPy forms the loops replace
when numba is missing run through the same checks with the loops switched off. (col2im is
conv_kernels', checked in test_conv_transpose_kernels.py.)
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import conv as conv_module
from shendu.ops import compiled, conv_loops
from shendu.testing import assert_close, gradcheck

TOL = {np.float64: 1e-10, np.float32: 1e-5}

# input shape, pool size, strides, padding
POOLS = [
    ((2, 6, 6, 3), (2, 2), (2, 2), "valid"),        # windows that tile the image
    ((1, 7, 5, 2), (2, 2), (2, 2), "valid"),        # batch 1, odd sizes: a row and a column left over
    ((2, 5, 6, 1), (3, 3), (1, 1), "valid"),        # overlapping windows
    ((2, 7, 7, 4), (3, 3), (2, 2), "same"),         # overlapping, strided, padded
    ((1, 5, 4, 2), (2, 2), (2, 2), "same"),         # even window, 'same': the pad goes after
    ((3, 4, 9, 2), (1, 3), (1, 2), "valid"),        # size-1 window axis
]


@pytest.fixture
def no_loops(monkeypatch):
    """Run as on a machine without numba: every caller takes its NumPy form."""
    monkeypatch.setitem(compiled._built, conv_loops.NAME, None)


def window(x_shape, k, s, padding, d=(1, 1)):
    return conv_module._geometry("t", x_shape[1:3], k, s, d, padding)


def plain_max_pool(xpad, w):
    """y = max over the window, arg = row-major offset of its first maximum, by explicit loops."""
    n_, _, _, c_ = xpad.shape
    y = np.empty((n_, *w.out, c_), xpad.dtype)
    arg = np.empty(y.shape, np.uint8)
    for n in range(n_):
        for i in range(w.out[0]):
            for j in range(w.out[1]):
                for c in range(c_):
                    win = xpad[n, i * w.s[0]:i * w.s[0] + w.k[0], j * w.s[1]:j * w.s[1] + w.k[1], c].reshape(-1)
                    k = int(np.argmax(win)) if not np.isnan(win).any() else int(np.flatnonzero(np.isnan(win))[0])
                    y[n, i, j, c], arg[n, i, j, c] = win[k], k
    return y, arg


def plain_pool_grad(gy, arg, w, padded_shape):
    g = np.zeros(padded_shape, gy.dtype)
    for n, i, j, c in np.ndindex(gy.shape):
        a, b = divmod(int(arg[n, i, j, c]), w.k[1])
        g[n, i * w.s[0] + a, j * w.s[1] + b, c] += gy[n, i, j, c]
    return g


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_mask_matches_the_formula(dtype):
    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((3, 5, 7, 2)), 0).astype(dtype)
    gy = rng.standard_normal((3, 5, 7, 2)).astype(dtype)
    got = conv_loops.relu_mask(gy, a)
    assert got.dtype == dtype
    assert_close(got, np.where(a > 0, gy, 0), atol=TOL[dtype])
    strided = rng.standard_normal((3, 5, 14, 2)).astype(dtype)[:, :, ::2]     # a non-contiguous dy
    assert_close(conv_loops.relu_mask(strided, a), strided * (a > 0), atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, k, s, padding", POOLS, ids=str)
def test_max_pool_and_its_gradient_match_the_formula(dtype, x_shape, k, s, padding):
    rng = np.random.default_rng(2)
    w = window(x_shape, k, s, padding)
    x = np.round(rng.standard_normal(x_shape) * 2).astype(dtype)       # rounded: many ties
    xpad = conv_module._pad(x, w.pads, -np.inf)
    y, arg = conv_loops.max_pool(xpad, w)
    ey, earg = plain_max_pool(xpad, w)
    assert y.dtype == dtype
    assert_close(y, ey, atol=TOL[dtype])
    np.testing.assert_array_equal(arg, earg)                            # ties go to the first maximum
    gy = rng.standard_normal(y.shape).astype(dtype)
    g = conv_loops.max_pool_grad(gy, arg, w, xpad.shape)
    assert g.dtype == dtype
    assert_close(g, plain_pool_grad(gy, arg, w, xpad.shape), atol=TOL[dtype])


def test_max_pool_lets_nan_win():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    x[0, 1, 0, 0] = np.nan
    w = window(x.shape, (2, 2), (2, 2), "valid")
    y, arg = conv_loops.max_pool(x, w)
    ey, earg = plain_max_pool(x, w)
    np.testing.assert_array_equal(y, ey)          # NaN where the window holds one, as maximum() gives
    np.testing.assert_array_equal(arg, earg)
    assert np.isnan(y[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 2


def test_pool_gradient_numpy_form_matches_the_loop(no_loops):
    rng = np.random.default_rng(3)
    for x_shape, k, s, padding in POOLS:
        w = window(x_shape, k, s, padding)
        padded = (x_shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_shape[1:3], w.pads)), x_shape[-1])
        arg = rng.integers(0, k[0] * k[1], (x_shape[0], *w.out, x_shape[-1])).astype(np.uint8)
        gy = rng.standard_normal(arg.shape)
        assert_close(conv_loops.max_pool_grad(gy, arg, w, padded), plain_pool_grad(gy, arg, w, padded), atol=1e-12)


def test_without_numba_the_loops_step_aside(no_loops):
    x = np.ones((1, 4, 4, 1), np.float32)
    w = window(x.shape, (2, 2), (2, 2), "valid")
    assert conv_loops.kernels() is None and conv_loops.max_pool(x, w) is None
    a, gy = np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0, 7.0])
    np.testing.assert_array_equal(conv_loops.relu_mask(gy, a), [0.0, 6.0, 7.0])


@pytest.mark.parametrize("x_shape, k, s, padding", POOLS, ids=str)
def test_max_pool_op_compiled_and_numpy_forms_agree(monkeypatch, x_shape, k, s, padding):
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal(x_shape) * 2)                     # ties: both forms pick the first maximum
    results = []
    for loops in (True, False):
        if not loops:
            monkeypatch.setitem(compiled._built, conv_loops.NAME, None)
        t = sd.tensor(x, requires_grad=True)
        y = ops.max_pool2d(t, k, s, padding)
        y.backward(np.arange(y.size, dtype=np.float64).reshape(y.shape) + 1)
        results.append((y.numpy(), t.grad.numpy()))
    assert_close(results[0][0], results[1][0], atol=1e-12, name="forward")
    assert_close(results[0][1], results[1][1], atol=1e-12, name="dx")


@pytest.mark.parametrize("x_shape, k, s, padding", POOLS[:4], ids=str)
def test_max_pool_compiled_form_gradcheck(x_shape, k, s, padding):
    x = np.random.default_rng(5).permutation(np.prod(x_shape)).reshape(x_shape) * 0.1   # distinct: no ties
    assert gradcheck(lambda t: ops.max_pool2d(t, k, s, padding), x)


def test_max_pool_1d_and_float32_through_the_loop():
    x = np.random.default_rng(6).standard_normal((2, 9, 3)).astype(np.float32)
    t = sd.tensor(x, requires_grad=True)
    y = ops.max_pool1d(t, 3, 2)
    assert y.dtype == np.float32
    expected = np.stack([x[:, i * 2:i * 2 + 3].max(axis=1) for i in range(4)], axis=1)
    assert_close(y, expected, atol=1e-6)
    y.backward(np.ones(y.shape, np.float32))
    assert t.grad.dtype == np.float32 and t.grad.numpy().sum() == y.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("relu", [True, False])
def test_bias_relu_matches_the_formula(dtype, relu):
    rng = np.random.default_rng(7)
    z, b = rng.standard_normal((37, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    y = z.copy()
    conv_loops.bias_relu(y, b, relu)
    assert y.dtype == dtype
    assert_close(y, np.maximum(z + b, 0) if relu else z + b, atol=TOL[dtype])
    y = z.copy()
    conv_loops.bias_relu(y, None, relu)                 # no bias
    assert_close(y, np.maximum(z, 0) if relu else z, atol=TOL[dtype])


def test_bias_relu_numpy_form(no_loops):
    z, b = np.array([[-1.0, 2.0], [3.0, -4.0]]), np.array([0.5, 1.0])
    y = z.copy()
    conv_loops.bias_relu(y, b, True)
    np.testing.assert_array_equal(y, [[0.0, 3.0], [3.5, 0.0]])
