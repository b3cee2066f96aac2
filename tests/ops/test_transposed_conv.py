"""shendu/ops/transposed_conv.py: conv2d_transpose, the adjoint of conv2d.

Each case runs gradcheck (float64 central differences), forward plus every gradient against PyTorch
in float32 and float64 (torch's un-padded transposed conv, cropped TensorFlow's way), and the identity
that defines it: conv2d_transpose(x, K) is the gradient of Σ conv2d(z, K) · x with respect to z.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import check_against_torch, first, last, per_axis
from test_conv import DTYPES, F, inputs, needs_torch

import shendu as sd
from shendu import ops
from shendu.ops import conv as conv_module
from shendu.testing import assert_close, gradcheck

# ---------------------------------------------------------------- conv2d_transpose

# x shape, kernel shape (kh, kw, cout, cin), strides, padding, output_padding, dilation
TRANSPOSE = [
    ((2, 4, 5, 3), (3, 3, 2, 3), 1, "valid", None, 1),
    ((2, 4, 3, 2), (3, 3, 2, 2), 2, "valid", None, 1),      # kernel larger than stride
    ((1, 3, 4, 2), (2, 2, 3, 2), 3, "valid", None, 1),      # kernel smaller than stride: zero rows at the end
    ((2, 4, 5, 3), (3, 3, 2, 3), 1, "same", None, 1),
    ((2, 4, 3, 2), (3, 3, 2, 2), 2, "same", None, 1),
    ((2, 3, 4, 2), (4, 4, 2, 2), 2, "same", None, 1),       # even kernel
    ((1, 3, 3, 2), (2, 2, 3, 2), 3, "same", None, 1),
    ((2, 3, 4, 2), (3, 2, 2, 2), (2, 3), "same", (1, 2), 1),  # output_padding, non-square
    ((2, 3, 3, 2), (3, 3, 2, 2), 2, "valid", 1, 1),
    ((2, 4, 4, 2), (3, 3, 2, 2), 1, "same", None, 2),       # dilated
]


def torch_conv_transpose(x, K, b, strides, padding, output_padding, dilation):
    """torch's un-padded transposed conv (full size (in-1)*s + k_eff), cropped or zero-extended TF's way."""
    s, d = per_axis(strides, 2), per_axis(dilation, 2)
    full = F.conv_transpose2d(first(x), K.permute(3, 2, 0, 1), stride=s, dilation=d)
    pads = []
    for axis, (n, k) in enumerate(zip(x.shape[1:3], K.shape[:2])):
        k_eff, stride = (k - 1) * d[axis] + 1, s[axis]
        if output_padding is None:      # Keras's deconv_output_length
            out = n * stride + (max(k_eff - stride, 0) if padding == "valid" else 0)
        else:
            out = (n - 1) * stride + k_eff - 2 * (k_eff // 2 if padding == "same" else 0) + per_axis(output_padding, 2)[axis]
        before = max(full.shape[2 + axis] - out, 0) // 2 if padding == "same" else 0
        pads += [-before, out + before - full.shape[2 + axis]]   # negative F.pad crops
    return last(F.pad(full, pads[2:] + pads[:2]) + b[:, None, None])


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv2d_transpose_gradcheck(x_shape, k_shape, strides, padding, output_padding, dilation):
    assert gradcheck(lambda x, K, b: ops.conv2d_transpose(x, K, b, strides, padding, dilation, output_padding),
                     *inputs(x_shape, k_shape, k_shape[2:3]))


@needs_torch
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv2d_transpose_matches_torch(x_shape, k_shape, strides, padding, output_padding, dilation, dtype, tol):
    check_against_torch(
        lambda x, K, b: ops.conv2d_transpose(x, K, b, strides, padding, dilation, output_padding),
        lambda x, K, b: torch_conv_transpose(x, K, b, strides, padding, output_padding, dilation),
        inputs(x_shape, k_shape, k_shape[2:3]), dtype, tol)


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv2d_transpose_is_the_input_gradient_of_conv2d(x_shape, k_shape, strides, padding, output_padding,
                                                          dilation):
    x, K = inputs(x_shape, k_shape)
    y = ops.conv2d_transpose(x, K, None, strides, padding, dilation, output_padding)
    z = sd.tensor(np.zeros(y.shape), requires_grad=True)
    forward = ops.conv2d(z, K, None, strides, padding, dilation)
    assert forward.shape == x.shape
    (forward * x).sum().backward()
    assert_close(y, z.grad, atol=1e-12, name="conv2d_transpose vs d conv2d / d input")


def test_conv2d_transpose_in_batch_chunks_matches_one_pass(monkeypatch):
    rng = np.random.default_rng(2)
    x, K, b = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal((4, 4, 2, 3)), rng.standard_normal(2)
    gy = None
    results = []
    for limit in (conv_module.TEMP_LIMIT, 4 * 3 * 16 * 2 * 8 * 2):    # the second: two examples per chunk
        monkeypatch.setattr(conv_module, "TEMP_LIMIT", limit)
        ts = [sd.tensor(a, requires_grad=True) for a in (x, K, b)]
        y = ops.conv2d_transpose(*ts, strides=2, padding="same")
        gy = rng.standard_normal(y.shape) if gy is None else gy
        y.backward(gy)
        results.append([y.numpy()] + [t.grad.numpy() for t in ts])
    for one, chunked in zip(*results):
        assert_close(chunked, one, atol=1e-12)
    assert gradcheck(lambda x, K, b: ops.conv2d_transpose(x, K, b, strides=2, padding="same"), x[:3], K, b)


# ---------------------------------------------------------------- errors that teach

ERRORS = [
    (lambda: ops.conv2d_transpose(np.ones((1, 4, 4, 3)), np.ones((3, 3, 3, 2))), r"input has 3 channels.*expects 2"),
    (lambda: ops.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((3, 3, 3, 2)), strides=2, output_padding=2),
     r"output_padding 2 must be >= 0 and smaller than the strides"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:30] for _, m in ERRORS])
def test_conv2d_transpose_errors_teach(call, message):
    with pytest.raises(ValueError, match=message):
        call()
