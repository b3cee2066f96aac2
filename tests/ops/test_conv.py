"""shendu/ops/conv.py: conv1d/conv2d (conv2d_transpose: test_transposed_conv.py; pooling: test_pool.py).

Each case runs three checks: gradcheck (float64 central differences), and forward plus every
gradient against PyTorch in float32 and float64. PyTorch is NCHW with symmetric padding, so the
references transpose to NCHW and pad explicitly by TensorFlow's 'same' rule (the odd pixel after).
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import conv as conv_module
from shendu.testing import assert_close, gradcheck
from helpers import check_against_torch, first, last, per_axis, tf_padded

try:
    import torch          # the oracle, for the tests marked needs_torch only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")


DTYPES = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# ---------------------------------------------------------------- conv2d and conv1d

# x shape, kernel shape (kh, kw, cin, cout), strides, padding, dilation
CONV2D = [
    ((1, 5, 5, 1), (3, 3, 1, 2), 1, "valid", 1),            # batch 1
    ((2, 7, 6, 3), (3, 2, 3, 4), 2, "valid", 1),            # odd, non-square, stride 2
    ((2, 9, 8, 2), (3, 3, 2, 3), 1, "valid", 2),            # dilation 2
    ((2, 6, 6, 2), (2, 2, 2, 3), 1, "same", 1),             # even kernel: the extra pad goes after
    ((2, 7, 5, 2), (3, 3, 2, 3), 2, "same", 1),             # odd kernel, stride 2
    ((1, 8, 7, 2), (4, 3, 2, 2), (2, 3), "same", 1),        # non-square stride
    ((2, 7, 7, 1), (3, 3, 1, 2), 1, "same", 2),             # dilated 'same'
    ((2, 6, 5, 3), (2, 3, 3, 2), (1, 2), "same", (2, 1)),
]
CONV1D = [
    ((2, 9, 3), (3, 3, 4), 1, "valid", 1),
    ((1, 10, 2), (4, 2, 3), 2, "same", 1),
    ((2, 11, 2), (3, 2, 2), 1, "causal", 2),
    ((2, 8, 1), (2, 1, 2), 3, "same", 2),
]


def torch_conv(x, K, b, strides, padding, dilation):
    """TF-padded convolution of NHWC (or NLC) x with an HWIO (or LIO) kernel, through torch."""
    rank = K.ndim - 2
    conv = F.conv2d if rank == 2 else F.conv1d
    strides, dilation = (per_axis(strides, 2), per_axis(dilation, 2)) if rank == 2 else ((strides,), (dilation,))
    xpad = tf_padded(first(x), K.shape[:rank], strides, dilation, padding)
    weight = K.permute(2, 1, 0) if rank == 1 else K.permute(3, 2, 0, 1)
    return last(conv(xpad, weight, b, stride=strides, dilation=dilation))


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CONV2D + CONV1D, ids=str)
def test_conv_gradcheck(x_shape, k_shape, strides, padding, dilation):
    conv = ops.conv2d if len(x_shape) == 4 else ops.conv1d
    assert gradcheck(lambda x, K, b: conv(x, K, b, strides, padding, dilation),
                     *inputs(x_shape, k_shape, k_shape[-1:]))


@needs_torch
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", CONV2D + CONV1D, ids=str)
def test_conv_matches_torch(x_shape, k_shape, strides, padding, dilation, dtype, tol):
    conv = ops.conv2d if len(x_shape) == 4 else ops.conv1d
    check_against_torch(lambda x, K, b: conv(x, K, b, strides, padding, dilation),
                        lambda x, K, b: torch_conv(x, K, b, strides, padding, dilation),
                        inputs(x_shape, k_shape, k_shape[-1:]), dtype, tol)


@needs_torch
def test_conv2d_skips_the_input_gradient_when_the_input_needs_none(monkeypatch):
    x, K = inputs((2, 6, 6, 1), (3, 3, 1, 4))
    monkeypatch.setattr(conv_module, "_col2im", lambda *a: pytest.fail("dx was computed for a constant input"))
    kernel = sd.tensor(K, requires_grad=True)
    ops.conv2d(sd.tensor(x), kernel, padding="same").sum().backward()
    expected = torch.tensor(K, requires_grad=True)
    torch_conv(torch.tensor(x), expected, None, 1, "same", 1).sum().backward()
    assert_close(kernel.grad, expected.grad.numpy(), atol=1e-10)


# ---------------------------------------------------------------- im2col


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 5])
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", [
    ((1, 5, 5), (3, 3), (1, 1), "same", (1, 1)),          # batch 1
    ((2, 28, 28), (4, 4), (2, 2), "same", (1, 1)),        # the DCGAN discriminator's grayscale first layer
    ((3, 9, 7), (2, 3), (3, 2), "valid", (1, 2)),         # odd sizes, stride 3, dilation
], ids=str)
def test_im2col_copies_the_formula(x_shape, k, strides, padding, dilation, channels, dtype):
    """Every layout of the plain im2col (one channel: built transposed, one offset per row) holds
    cols[n*oh*ow + i*ow + j, (a*kw + b)*C + c] = x_pad[n, i*s + a*d, j*s + b*d, c]."""
    x = np.random.default_rng(3).standard_normal((*x_shape, channels)).astype(dtype)
    w = conv_module._geometry("t", x_shape[1:], k, strides, dilation, padding)
    xpad = conv_module._pad(x, w.pads)
    got = conv_module._im2col(xpad, w)
    expected = np.empty((x.shape[0], *w.out, *k, channels), dtype)
    for i in range(w.out[0]):
        for j in range(w.out[1]):
            for a in range(k[0]):
                for b in range(k[1]):
                    expected[:, i, j, a, b] = xpad[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1]]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected.reshape(-1, k[0] * k[1] * channels))


# ---------------------------------------------------------------- errors that teach

ERRORS = [
    (lambda: ops.conv2d(np.ones((28, 28, 1)), np.ones((3, 3, 1, 8))),
     r"conv2d expects a 4-D input \(batch, height, width, channels\) but got shape \(28, 28, 1\); add a batch axis"),
    (lambda: ops.conv2d(np.ones((2, 8, 8, 3)), np.ones((3, 3, 1, 8))), r"input has 3 channels.*expects 1"),
    (lambda: ops.conv2d(np.ones((1, 4, 4, 1)), np.ones((5, 5, 1, 2))), r"5x5 kernel is larger than the 4x4 input"),
    (lambda: ops.conv2d(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), dilation_rate=3),
     r"3x3 kernel \(dilated to 7x7"),
    (lambda: ops.conv2d(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), padding="full"),
     r"unknown padding 'full'; expected one of 'valid', 'same'"),
    (lambda: ops.conv2d(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), padding="causal"), r"'valid', 'same'\."),
    (lambda: ops.conv2d(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), np.ones(3)), r"bias must have shape \(2,\)"),
    (lambda: ops.conv2d(np.ones((1, 6, 6, 1)), np.ones((3, 3, 1, 2)), strides=0), r"strides must be a positive"),
    (lambda: ops.conv1d(np.ones((2, 10)), np.ones((3, 1, 4))), r"conv1d expects a 3-D input \(batch, length"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:30] for _, m in ERRORS])
def test_errors_teach(call, message):
    with pytest.raises(ValueError, match=message):
        call()
