"""shendu/ops/conv.py's shape-chosen kernels (the shift form, batch chunks) against the plain formula.

The plain formula is the definition, a sum over kernel offsets of shifted input slices:
    y[n,i,j,f] = Σ_{a,b,c} x_pad[n, i*s + a*d, j*s + b*d, c] K[a,b,c,f] + bias[f]
Each forced plan must give that forward and the same gradients as the default im2col path (which
test_conv.py checks against PyTorch), and pass a float64 gradcheck.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import conv as conv_module
from shendu.testing import assert_close, gradcheck

# x shape, kernel shape (kh, kw, cin, cout), strides, padding, dilation
CASES = [
    ((2, 7, 6, 5), (3, 3, 5, 1), 1, "same", 1),         # few filters, many channels: the shift form's case
    ((1, 6, 6, 4), (2, 2, 4, 2), 1, "same", 1),         # even kernel: the extra pad after
    ((3, 8, 7, 3), (3, 2, 3, 2), 2, "valid", 1),        # stride 2, odd sizes
    ((2, 9, 8, 2), (3, 3, 2, 3), 1, "valid", 2),        # dilation
    ((2, 7, 5, 2), (4, 3, 2, 1), (2, 1), "same", 1),    # non-square stride, size-1 filter axis
]


def plain_conv(x, K, b, strides, padding, dilation):
    """The formula above, in float64, one shifted slice per kernel offset."""
    s, d = conv_module._ints(strides, 2, "s", "t"), conv_module._ints(dilation, 2, "d", "t")
    w = conv_module._geometry("t", x.shape[1:3], K.shape[:2], s, d, padding)
    xpad = np.pad(x, ((0, 0), *w.pads, (0, 0)))
    y = np.zeros((x.shape[0], *w.out, K.shape[-1]))
    for a in range(K.shape[0]):
        for c in range(K.shape[1]):
            tap = xpad[:, a * d[0]:a * d[0] + (w.out[0] - 1) * s[0] + 1:s[0],
                       c * d[1]:c * d[1] + (w.out[1] - 1) * s[1] + 1:s[1]]
            y += tap @ K[a, c]
    return y + b


def arrays(x_shape, k_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(k_shape), rng.standard_normal(k_shape[-1:])


def forced(monkeypatch, mode, chunk):
    monkeypatch.setattr(conv_module, "_plan", lambda x_shape, *rest: (mode, min(chunk, x_shape[0])))


@pytest.mark.parametrize("mode, chunk", [("shift", 99), ("shift", 1), ("cols", 1), ("cols", 2)])
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CASES, ids=str)
def test_forced_plan_matches_the_formula_and_the_default_gradients(monkeypatch, mode, chunk, x_shape, k_shape,
                                                                   strides, padding, dilation):
    x, K, b = arrays(x_shape, k_shape)
    gy = np.random.default_rng(1).standard_normal(plain_conv(x, K, b, strides, padding, dilation).shape)
    expected = []
    for t in (sd.tensor(x, requires_grad=True), sd.tensor(K, requires_grad=True), sd.tensor(b, requires_grad=True)):
        expected.append(t)
    ops.conv2d(*expected, strides, padding, dilation).backward(gy)          # the default plan
    forced(monkeypatch, mode, chunk)
    got = [sd.tensor(a, requires_grad=True) for a in (x, K, b)]
    y = ops.conv2d(*got, strides, padding, dilation)
    assert_close(y, plain_conv(x, K, b, strides, padding, dilation), atol=1e-10, name=f"{mode} forward")
    y.backward(gy)
    for name, g, e in zip(("dx", "dK", "dbias"), got, expected):
        assert_close(g.grad, e.grad, atol=1e-10, name=f"{mode} {name}")


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CASES[:3], ids=str)
def test_shift_form_gradcheck(monkeypatch, x_shape, k_shape, strides, padding, dilation):
    forced(monkeypatch, "shift", 1)
    assert gradcheck(lambda x, K, b: ops.conv2d(x, K, b, strides, padding, dilation), *arrays(x_shape, k_shape))


def test_shift_form_keeps_float32():
    x, K, b = (a.astype(np.float32) for a in arrays((2, 16, 16, 16), (5, 5, 16, 1)))
    assert conv_module._plan(x.shape, (20, 20), K.shape, conv_module._geometry(
        "t", (16, 16), (5, 5), (1, 1), (1, 1), "same"), 4)[0] == "shift"
    y = ops.conv2d(sd.tensor(x, requires_grad=True), sd.tensor(K, requires_grad=True), b, padding="same")
    assert y.dtype == np.float32
    assert_close(y, plain_conv(x.astype(float), K.astype(float), b, 1, "same", 1), atol=1e-4)


def test_plan_picks_the_smaller_temporary_under_the_limit():
    def plan(n, hw, k, c, f, padding="same"):
        w = conv_module._geometry("t", hw, (k, k), (1, 1), (1, 1), padding)
        padded = tuple(h + lo + hi for h, (lo, hi) in zip(hw, w.pads))
        return conv_module._plan((n, *hw, c), padded, (k, k, c, f), w, 4)

    # Conv2D(1, 7, same) on 28x28x128, batch 128: im2col would be 2.5 GB
    mode, chunk = plan(128, (28, 28), 7, 128, 1)
    assert mode == "shift" and chunk * 34 * 34 * 49 * 4 <= conv_module.TEMP_LIMIT
    # the tutorial CNN's layers keep the one im2col product, whole batch
    assert plan(64, (28, 28), 3, 1, 32, "valid") == ("cols", 64)
    assert plan(64, (13, 13), 3, 32, 64, "valid") == ("cols", 64)
    # many filters and channels on a big image: im2col, in chunks under the limit
    mode, chunk = plan(256, (64, 64), 5, 64, 64)
    assert mode == "cols" and 1 <= chunk < 256 and chunk * 64 * 64 * 25 * 64 * 4 <= conv_module.TEMP_LIMIT
