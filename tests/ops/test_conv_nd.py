"""shendu/ops/conv_nd.py, window.py, depthwise.py, pool_nd.py: rank-generic, grouped, depthwise and transposed convs, 3-D pooling.

Each case: gradcheck (float64 central differences) and forward plus every gradient against PyTorch in
float32 and float64. PyTorch is channels-first with symmetric padding, so the references move the
channels axis and pad explicitly by TensorFlow's 'same' rule (the odd pixel after).
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.testing import assert_close, gradcheck

try:
    import torch          # the oracle, for the tests marked needs_torch only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")

DTYPES = [pytest.param(np.float32, 2e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def per_axis(v, rank):
    return (v,) * rank if isinstance(v, int) else tuple(v)


def tf_pads(size, k, s, d, padding):
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return k_eff - 1, 0
    total = max((-(-size // s) - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2


def first(x):          # torch: channels-last -> channels-first, and back
    return x.movedim(-1, 1)


def last(y):
    return y.movedim(1, -1)


def tf_padded(x, kernel, strides, dilation, padding, value=0.0):
    pads = [tf_pads(n, k, s, d, padding) for n, k, s, d in zip(x.shape[2:], kernel, strides, dilation)]
    return F.pad(x, [p for pair in reversed(pads) for p in pair], value=value)


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


def check_against_torch(fn, ref, arrays, dtype, tol):
    """fn(shendu Tensors) and ref(torch tensors) agree on the output and every input gradient."""
    ts = [sd.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    tts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y, yt = fn(*ts), ref(*tts)
    assert y.dtype == dtype, f"{dtype.__name__} inputs gave a {y.dtype} output"
    assert_close(y, yt.detach().numpy(), atol=tol, rtol=tol, name="forward")
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    for i, (t, tt) in enumerate(zip(ts, tts)):
        assert t.grad.dtype == dtype, f"gradient of input {i} is {t.grad.dtype}"
        assert_close(t.grad, tt.grad.numpy(), atol=tol, rtol=tol, name=f"gradient of input {i}")


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


# ---------------------------------------------------------------- 3-D pooling

POOL3D = [
    ((1, 4, 4, 4, 2), 2, None, "valid"),
    ((2, 5, 6, 7, 3), (2, 3, 2), None, "valid"),
    ((2, 5, 4, 5, 2), 3, 2, "same"),
    ((2, 3, 5, 4, 1), (2, 2, 3), (1, 2, 1), "same"),
]


def torch_pool(kind, x, pool, strides, padding):
    pool = per_axis(pool, 3)
    strides = pool if strides is None else per_axis(strides, 3)
    if kind == "max":
        xpad = tf_padded(first(x), pool, strides, (1, 1, 1), padding, value=-np.inf)
        return last(F.max_pool3d(xpad, pool, strides))
    ones = torch.ones_like(first(x)[:, :1])
    total = F.avg_pool3d(tf_padded(first(x), pool, strides, (1, 1, 1), padding), pool, strides, divisor_override=1)
    count = F.avg_pool3d(tf_padded(ones, pool, strides, (1, 1, 1), padding), pool, strides, divisor_override=1)
    return last(total / count)


@needs_torch
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("x_shape, pool, strides, padding", POOL3D, ids=str)
def test_pool3d_matches_torch_and_gradcheck(kind, x_shape, pool, strides, padding):
    op = ops.max_pool3d if kind == "max" else ops.avg_pool3d
    # distinct values: no ties, so the max's gradient is well defined for the finite differences
    x = np.random.default_rng(0).permutation(np.prod(x_shape)).reshape(x_shape) / np.prod(x_shape)
    for dtype, tol in ((np.float32, 1e-6), (np.float64, 1e-12)):
        check_against_torch(lambda t: op(t, pool, strides, padding),
                            lambda t: torch_pool(kind, t, pool, strides, padding), [x], dtype, tol)
    assert gradcheck(lambda t: op(t, pool, strides, padding), x)


def test_pool3d_explains_a_wrong_rank():
    with pytest.raises(ValueError, match=r"5-D input \(batch, depth, height, width, channels\)"):
        ops.max_pool3d(np.zeros((2, 4, 4, 3)))


@pytest.mark.parametrize("shape, pool, strides, padding", [((2, 7, 3), 2, None, "valid"), ((2, 7, 6, 2), 3, 2, "same"),
                                                           ((1, 5, 4, 3), (2, 3), 1, "valid")], ids=str)
def test_rank_generic_pooling_agrees_with_the_1d_and_2d_ops(shape, pool, strides, padding):
    x = np.random.default_rng(5).permutation(np.prod(shape)).reshape(shape) / np.prod(shape)
    pairs = ((ops.max_pool, ops.max_pool1d, ops.max_pool2d), (ops.avg_pool, ops.avg_pool1d, ops.avg_pool2d))
    for generic, one, two in pairs:
        fixed = one if len(shape) == 3 else two
        assert_close(generic(x, pool, strides, padding), fixed(x, pool, strides, padding).numpy(), atol=1e-12)
        assert gradcheck(lambda t: generic(t, pool, strides, padding), x)
