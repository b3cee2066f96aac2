"""shendu/ops/conv_nd.py, window.py, depthwise.py: rank-generic, grouped, depthwise and transposed convs (pooling: test_pool.py).

Each case: gradcheck (float64 central differences) and forward plus every gradient against PyTorch in
float32 and float64. PyTorch is channels-first with symmetric padding, so the references move the
channels axis and pad explicitly by TensorFlow's 'same' rule (the odd pixel after).
"""
from __future__ import annotations

import numpy as np
import pytest

from shendu import ops
from shendu.testing import gradcheck
from helpers import check_against_torch, first, last, per_axis, tf_padded

try:
    import torch          # the oracle, for the tests marked needs_torch only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")

DTYPES = [pytest.param(np.float32, 2e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def torch_conv(x, K, b, strides, padding, dilation, groups=1):
    """TF-padded, grouped convolution of channels-last x with a tf.keras kernel (*k, in/groups, out)."""
    rank = K.ndim - 2
    strides, dilation = per_axis(strides, rank), per_axis(dilation, rank)
    conv = (F.conv1d, F.conv2d, F.conv3d)[rank - 1]
    weight = K.permute(rank + 1, rank, *range(rank))
    xpad = tf_padded(first(x), K.shape[:rank], strides, dilation, padding)
    return last(conv(xpad, weight, b, stride=strides, dilation=dilation, groups=groups))


def torch_conv_transpose(x, K, b, strides, padding, dilation, output_padding):
    """TensorFlow's transposed conv: PyTorch's full result, cropped (or zero-extended) to Keras's length."""
    rank = K.ndim - 2
    strides, dilation = per_axis(strides, rank), per_axis(dilation, rank)
    extra = (None,) * rank if output_padding is None else per_axis(output_padding, rank)
    conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    y = conv_t(first(x), K.permute(rank + 1, rank, *range(rank)), None, stride=strides, dilation=dilation)
    index = [slice(None), slice(None)]
    for axis, (n, k, s, d, p) in enumerate(zip(x.shape[1:-1], K.shape[:rank], strides, dilation, extra)):
        k_eff = (k - 1) * d + 1
        if p is None:
            out = n * s + max(k_eff - s, 0) if padding == "valid" else n * s
        else:
            out = (n - 1) * s + k_eff - 2 * (k_eff // 2 if padding == "same" else 0) + p
        full = (n - 1) * s + k_eff
        before = max(full - out, 0) // 2 if padding == "same" else 0
        if before + out > full:
            widths = [0, 0] * rank
            widths[2 * (rank - 1 - axis) + 1] = before + out - full
            y = F.pad(y, widths)
        index.append(slice(before, before + out))
    y = last(y[tuple(index)])
    return y if b is None else y + b


def inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# ---------------------------------------------------------------- conv (grouped, 1-D to 3-D)

# x shape, kernel shape (*k, in/groups, out), strides, padding, dilation, groups
CONV = [
    ((1, 4, 5, 4, 2), (2, 3, 2, 2, 3), 1, "valid", 1, 1),                 # conv3d, batch 1, odd sizes
    ((2, 5, 6, 5, 3), (3, 2, 3, 3, 2), (2, 1, 2), "same", 1, 1),          # strides, even kernel axis
    ((2, 6, 5, 7, 2), (2, 2, 2, 2, 2), 1, "same", (2, 1, 1), 1),          # even kernel, dilation, 'same'
    ((2, 5, 4, 6, 4), (3, 2, 2, 2, 6), (1, 2, 1), "valid", 1, 2),         # grouped conv3d
    ((2, 7, 6, 6), (3, 3, 2, 6), 2, "same", 1, 3),                        # grouped conv2d, 3 groups
    ((1, 6, 7, 4), (2, 3, 2, 4), 1, "valid", 2, 2),                       # grouped, dilated
    ((2, 9, 4), (3, 2, 6), 1, "causal", 2, 2),                            # grouped conv1d, causal
    ((2, 8, 6), (4, 3, 2), 2, "same", 1, 2),                              # grouped conv1d, even kernel
    ((2, 6, 5, 3), (3, 2, 1, 6), (2, 1), "same", 1, 3),                   # depthwise through groups
    ((1, 5, 6, 2, 2), (2, 3, 2, 1, 4), 1, "same", 1, 2),                  # depthwise conv3d through groups
]


def _conv(strides, padding, dilation, groups):
    return lambda x, K, b: ops.convolution(x, K, b, strides, padding, dilation, groups)


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation, groups", CONV, ids=str)
def test_conv_nd_gradcheck(x_shape, k_shape, strides, padding, dilation, groups):
    assert gradcheck(_conv(strides, padding, dilation, groups), *inputs(x_shape, k_shape, k_shape[-1:]))


@needs_torch
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation, groups", CONV, ids=str)
def test_conv_nd_matches_torch(x_shape, k_shape, strides, padding, dilation, groups, dtype, tol):
    check_against_torch(_conv(strides, padding, dilation, groups),
                        lambda x, K, b: torch_conv(x, K, b, strides, padding, dilation, groups),
                        inputs(x_shape, k_shape, k_shape[-1:]), dtype, tol)


@needs_torch
def test_conv3d_without_bias_matches_torch():
    x, K = inputs((2, 4, 4, 4, 3), (3, 3, 3, 3, 2))
    check_against_torch(lambda x, K: ops.conv3d(x, K, padding="same"),
                        lambda x, K: torch_conv(x, K, None, 1, "same", 1), [x, K], np.float64, 1e-10)


def test_conv_explains_groups_that_do_not_divide():
    x, K = inputs((1, 5, 5, 4), (3, 3, 2, 3))
    with pytest.raises(ValueError, match="groups=2 must divide"):
        ops.convolution(x, K, groups=2)
    with pytest.raises(ValueError, match="kernel needs 2"):
        ops.convolution(x, inputs((3, 3, 4, 4))[0], groups=2)
    with pytest.raises(ValueError, match="5-D input"):
        ops.conv3d(np.zeros((1, 4, 4, 3)), K)


# ---------------------------------------------------------------- depthwise and separable

# x shape, kernel (*k, channels, multiplier), strides, padding, dilation
DEPTHWISE = [
    ((1, 5, 5, 3), (3, 3, 3, 1), 1, "valid", 1),
    ((2, 7, 6, 2), (2, 3, 2, 3), 2, "same", 1),
    ((2, 8, 7, 2), (3, 2, 2, 2), 1, "same", (2, 1)),
    ((2, 9, 3), (4, 3, 2), 2, "same", 1),
    ((2, 4, 5, 4, 2), (2, 2, 3, 2, 2), (1, 2, 1), "valid", 1),
]


def torch_depthwise(x, K, b, strides, padding, dilation):
    rank = K.ndim - 2
    return torch_conv(x, K.reshape(*K.shape[:rank], 1, -1), b, strides, padding, dilation, groups=K.shape[-2])


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", DEPTHWISE, ids=str)
def test_depthwise_conv_gradcheck(x_shape, k_shape, strides, padding, dilation):
    bias = (k_shape[-2] * k_shape[-1],)
    assert gradcheck(lambda x, K, b: ops.depthwise_conv(x, K, b, strides, padding, dilation),
                     *inputs(x_shape, k_shape, bias))


@needs_torch
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, dilation", DEPTHWISE, ids=str)
def test_depthwise_conv_matches_torch(x_shape, k_shape, strides, padding, dilation, dtype, tol):
    check_against_torch(lambda x, K, b: ops.depthwise_conv(x, K, b, strides, padding, dilation),
                        lambda x, K, b: torch_depthwise(x, K, b, strides, padding, dilation),
                        inputs(x_shape, k_shape, (k_shape[-2] * k_shape[-1],)), np.dtype(dtype).type, tol)


@needs_torch
def test_separable_conv_is_depthwise_then_pointwise():
    x, D, P, b = inputs((2, 6, 5, 3), (3, 3, 3, 2), (1, 1, 6, 4), (4,))

    def ref(x, D, P, b):
        y = torch_depthwise(x, D, None, 2, "same", 1)
        return torch_conv(y, P, b, 1, "valid", 1)
    check_against_torch(lambda x, D, P, b: ops.separable_conv(x, D, P, b, 2, "same"), ref, [x, D, P, b],
                        np.float64, 1e-10)
    assert gradcheck(lambda x, D, P, b: ops.separable_conv(x, D, P, b, 1, "valid", 2), x, D, P, b)
    with pytest.raises(ValueError, match="pointwise kernel"):
        ops.separable_conv(x, D, inputs((1, 1, 3, 4))[0])


# ---------------------------------------------------------------- transposed

# x shape, kernel (*k, out, in), strides, padding, output_padding, dilation
TRANSPOSE = [
    ((2, 5, 3), (3, 2, 3), 1, "valid", None, 1),            # conv1d_transpose
    ((1, 4, 2), (4, 3, 2), 2, "same", None, 1),             # even kernel, 'same'
    ((2, 4, 2), (2, 2, 2), 3, "valid", None, 1),            # kernel smaller than stride
    ((2, 5, 2), (3, 2, 2), 2, "valid", 1, 1),               # output_padding
    ((2, 6, 3), (3, 2, 3), 1, "same", None, 2),             # dilated
    ((1, 3, 4, 3, 2), (3, 3, 3, 2, 2), 1, "valid", None, 1),    # conv3d_transpose
    ((2, 3, 2, 3, 2), (2, 3, 2, 3, 2), (2, 1, 2), "same", None, 1),
    ((1, 2, 3, 2, 1), (3, 2, 2, 2, 1), 2, "same", (1, 0, 1), 1),
    ((2, 3, 3, 2, 2), (2, 2, 2, 1, 2), 1, "valid", None, (2, 1, 1)),
]


@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv_transpose_nd_gradcheck(x_shape, k_shape, strides, padding, output_padding, dilation):
    assert gradcheck(lambda x, K, b: ops.conv_transpose(x, K, b, strides, padding, dilation, output_padding),
                     *inputs(x_shape, k_shape, k_shape[-2:-1]))


@needs_torch
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv_transpose_nd_matches_torch(x_shape, k_shape, strides, padding, output_padding, dilation, dtype, tol):
    op = ops.conv1d_transpose if len(x_shape) == 3 else ops.conv3d_transpose
    check_against_torch(lambda x, K, b: op(x, K, b, strides, padding, dilation, output_padding),
                        lambda x, K, b: torch_conv_transpose(x, K, b, strides, padding, dilation, output_padding),
                        inputs(x_shape, k_shape, k_shape[-2:-1]), dtype, tol)


def test_conv_transpose_refuses_output_padding_not_below_the_stride():
    x, K = inputs((1, 4, 2), (3, 2, 2))
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv1d_transpose(x, K, strides=2, output_padding=2)
