"""shendu/layers/conv.py: Conv1D, Conv2D and Conv2DTranspose through the layer contract, against a
loop-over-kernel-offsets NumPy reference with TensorFlow's padding rule, and their teaching errors."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import layer_contract, tf_pads

from shendu import layers


def np_conv2d(x, K, b, strides, padding, dilation):
    """y[n,i,j,f] = Σ_{a,b,c} xpad[n, i s + a d, j s + b d, c] K[a,b,c,f] + b[f]; x (N,H,W,C), K (kh,kw,C,F)."""
    (sh, sw), (dh, dw), (kh, kw) = strides, dilation, K.shape[:2]
    pads = [tf_pads(x.shape[1 + i], K.shape[i], strides[i], dilation[i], padding) for i in range(2)]
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    oh = (xp.shape[1] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (xp.shape[2] - ((kw - 1) * dw + 1)) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, K.shape[-1]))
    for a in range(kh):
        for c in range(kw):
            patch = xp[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, c * dw:c * dw + (ow - 1) * sw + 1:sw, :]
            y += patch @ K[a, c]
    return y if b is None else y + b


def np_conv1d(x, K, b, stride, padding, dilation):
    return np_conv2d(x[:, None], K[None], b, (1, stride), "valid" if padding == "valid" else padding,
                     (1, dilation))[:, 0] if padding != "causal" else \
        np_conv2d(np.pad(x, ((0, 0), ((K.shape[0] - 1) * dilation, 0), (0, 0)))[:, None], K[None], b, (1, stride),
                  "valid", (1, dilation))[:, 0]


def _deconv_length(size, k, s, d, padding, output_padding):
    """keras.utils.conv_utils.deconv_output_length."""
    k_eff = (k - 1) * d + 1
    if output_padding is None:
        return size * s + max(k_eff - s, 0) if padding == "valid" else size * s
    pad = k_eff // 2 if padding == "same" else 0
    return (size - 1) * s + k_eff - 2 * pad + output_padding


def np_conv2d_transpose(x, K, b, strides, padding, dilation, output_padding, out):
    """Scatter every input pixel's K-weighted copy to i s + a d, then crop TensorFlow's 'same' padding.
    K is (kh, kw, F, C) (Keras's Conv2DTranspose layout); x (N, H, W, C)."""
    (sh, sw), (dh, dw), (kh, kw) = strides, dilation, K.shape[:2]
    full = [(x.shape[1 + i] - 1) * strides[i] + (K.shape[i] - 1) * dilation[i] + 1 for i in range(2)]
    before = [max(f - o, 0) // 2 if padding == "same" else 0 for f, o in zip(full, out)]
    y = np.zeros((x.shape[0], max(full[0], before[0] + out[0]), max(full[1], before[1] + out[1]), K.shape[2]))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            for a in range(kh):
                for c in range(kw):
                    y[:, i * sh + a * dh, j * sw + c * dw] += x[:, i, j] @ K[a, c].T
    y = y[:, before[0]:before[0] + out[0], before[1]:before[1] + out[1]]
    return y if b is None else y + b


def _nchw(fn):
    """A channels_last reference run on a channels_first input."""
    return lambda x, *w: np.moveaxis(fn(np.moveaxis(x, 1, -1), *w), -1, 1)


# ---------------------------------------------------------------- Conv1D

CONV1D = [  # (input shape, filters, kwargs, output length)
    ((2, 9, 3), 4, dict(kernel_size=3), 7),
    ((2, 7, 3), 2, dict(kernel_size=4, strides=2, padding="same"), 4),
    ((2, 8, 2), 3, dict(kernel_size=3, padding="causal", dilation_rate=2), 8),
    ((1, 10, 2), 2, dict(kernel_size=2, dilation_rate=3), 7),
    ((2, 8, 1), 2, dict(kernel_size=2, strides=3), 3),
    ((1, 5, 2), 1, dict(kernel_size=3, padding="causal", strides=2), 3),
]


@pytest.mark.parametrize("shape,filters,kwargs,length", CONV1D,
                         ids=["valid", "same-stride2", "causal-dilation2", "dilation3", "stride3", "causal-stride2"])
def test_conv1d_contract(shape, filters, kwargs, length):
    k = kwargs["kernel_size"]
    s, d, padding = kwargs.get("strides", 1), kwargs.get("dilation_rate", 1), kwargs.get("padding", "valid")
    layer_contract(partial(layers.Conv1D, filters, bias_initializer="glorot_uniform", **kwargs), shape,
                   (shape[0], length, filters), [(k, shape[-1], filters), (filters,)],
                   reference=lambda x, K, b: np_conv1d(x, K, b, s, padding, d))


def test_conv1d_channels_first_contract():
    layer_contract(partial(layers.Conv1D, 2, 3, padding="same", data_format="channels_first",
                           bias_initializer="glorot_uniform"),
                   (2, 3, 6), (2, 2, 6), [(3, 3, 2), (2,)],
                   reference=_nchw(lambda x, K, b: np_conv1d(x, K, b, 1, "same", 1)))


def test_causal_conv1d_never_sees_the_future():
    layer = layers.Conv1D(1, 3, padding="causal", dilation_rate=2, kernel_initializer="ones")
    x = np.zeros((1, 10, 1), np.float32)
    x[0, 6] = 1.0
    y = layer(x).numpy()[0, :, 0]
    # y[t] = x[t] + x[t-2] + x[t-4]: the impulse at 6 reaches steps 6 and 8 only, never 0..5
    np.testing.assert_array_equal(np.nonzero(y)[0], [6, 8])


# ---------------------------------------------------------------- Conv2D

CONV2D = [  # (input shape, filters, kwargs, output (h, w))
    ((2, 7, 6, 3), 4, dict(kernel_size=3), (5, 4)),
    ((1, 5, 7, 2), 2, dict(kernel_size=(2, 4), padding="same"), (5, 7)),
    ((2, 7, 8, 2), 3, dict(kernel_size=3, padding="same", strides=2), (4, 4)),
    ((2, 7, 7, 1), 2, dict(kernel_size=3, strides=2), (3, 3)),
    ((1, 9, 8, 2), 2, dict(kernel_size=3, dilation_rate=2), (5, 4)),
    ((1, 6, 5, 1), 2, dict(kernel_size=2, padding="same", dilation_rate=(2, 1)), (6, 5)),
    ((1, 5, 3, 1), 1, dict(kernel_size=(3, 2)), (3, 2)),
    ((1, 6, 6, 2), 2, dict(kernel_size=2, strides=2, padding="same"), (3, 3)),
]


@pytest.mark.parametrize("shape,filters,kwargs,out", CONV2D,
                         ids=["valid", "same-even-kernel", "same-stride2", "valid-stride2", "dilation2",
                              "same-dilation", "batch1-odd", "same-even-stride2"])
def test_conv2d_contract(shape, filters, kwargs, out):
    k = kwargs["kernel_size"]
    k = (k, k) if isinstance(k, int) else k
    s, d = kwargs.get("strides", 1), kwargs.get("dilation_rate", 1)
    s, d = (s, s) if isinstance(s, int) else s, (d, d) if isinstance(d, int) else d
    layer_contract(partial(layers.Conv2D, filters, bias_initializer="glorot_uniform", **kwargs), shape,
                   (shape[0], *out, filters), [(*k, shape[-1], filters), (filters,)],
                   reference=lambda x, K, b: np_conv2d(x, K, b, s, kwargs.get("padding", "valid"), d))


def test_conv2d_channels_first_contract():
    layer_contract(partial(layers.Conv2D, 4, 3, padding="same", data_format="channels_first",
                           bias_initializer="glorot_uniform"),
                   (2, 3, 5, 6), (2, 4, 5, 6), [(3, 3, 3, 4), (4,)],
                   reference=_nchw(lambda x, K, b: np_conv2d(x, K, b, (1, 1), "same", (1, 1))))


def test_conv2d_activation_and_no_bias_contract():
    layer_contract(partial(layers.Conv2D, 2, 2, activation="tanh", use_bias=False), (1, 4, 4, 2), (1, 3, 3, 2),
                   [(2, 2, 2, 2)], reference=lambda x, K: np.tanh(np_conv2d(x, K, None, (1, 1), "valid", (1, 1))))


def test_conv2d_on_3d_input_names_the_shape_and_the_fix():
    with pytest.raises(ValueError, match=r"rank 4.*\(None, 28, 28\).*input_shape=\(28, 28, 1\)"):
        layers.Conv2D(2, 3)(np.zeros((5, 28, 28), np.float32))


def test_conv_kernel_larger_than_input_explains():
    with pytest.raises(ValueError, match="padding='same'"):
        layers.Conv2D(1, 5)(np.zeros((1, 3, 3, 1), np.float32))


def test_conv_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(1, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2D(1, (3, 3, 3))


# ---------------------------------------------------------------- Conv2DTranspose

DECONV = [  # (input shape, filters, kwargs)
    ((2, 4, 5, 2), 3, dict(kernel_size=3)),
    ((2, 3, 4, 2), 2, dict(kernel_size=3, strides=2)),
    ((1, 3, 3, 3), 2, dict(kernel_size=4, strides=2, padding="same")),
    ((2, 3, 2, 1), 2, dict(kernel_size=2, strides=3)),
    ((1, 2, 3, 2), 2, dict(kernel_size=3, strides=3, padding="same")),
    ((1, 3, 4, 2), 2, dict(kernel_size=3, strides=2, output_padding=1)),
    ((1, 3, 3, 2), 2, dict(kernel_size=3, strides=2, padding="same", output_padding=1)),
    ((1, 3, 3, 2), 1, dict(kernel_size=(3, 2), strides=(2, 3), output_padding=(0, 2))),
    ((1, 3, 3, 2), 2, dict(kernel_size=3, dilation_rate=2)),
    ((1, 4, 3, 1), 2, dict(kernel_size=2, padding="same")),
]


@pytest.mark.parametrize("shape,filters,kwargs", DECONV,
                         ids=["valid-s1", "valid-s2", "same-s2", "valid-s3", "same-s3", "output-padding-valid",
                              "output-padding-same", "output-padding-rect", "dilation2", "same-s1-even"])
def test_conv2d_transpose_contract(shape, filters, kwargs):
    k = kwargs["kernel_size"]
    k = (k, k) if isinstance(k, int) else k
    s = kwargs.get("strides", 1)
    s = (s, s) if isinstance(s, int) else s
    d = (kwargs.get("dilation_rate", 1),) * 2
    op = kwargs.get("output_padding")
    op = (op, op) if isinstance(op, int) else op
    padding = kwargs.get("padding", "valid")
    out = tuple(_deconv_length(shape[1 + i], k[i], s[i], d[i], padding, None if op is None else op[i])
                for i in range(2))
    layer_contract(partial(layers.Conv2DTranspose, filters, bias_initializer="glorot_uniform", **kwargs), shape,
                   (shape[0], *out, filters), [(*k, filters, shape[-1]), (filters,)],
                   reference=lambda x, K, b: np_conv2d_transpose(x, K, b, s, padding, d, op, out))


def test_conv2d_transpose_channels_first_contract():
    out = (6, 8)
    layer_contract(partial(layers.Conv2DTranspose, 2, 2, strides=2, data_format="channels_first",
                           bias_initializer="glorot_uniform"),
                   (1, 3, 3, 4), (1, 2, *out), [(2, 2, 2, 3), (2,)],
                   reference=_nchw(lambda x, K, b: np_conv2d_transpose(x, K, b, (2, 2), "valid", (1, 1), None, out)))


def test_conv2d_transpose_is_the_input_gradient_of_conv2d():
    # <conv(x, K), y> = <x, conv_transpose(y, K)> for the same K (stored in the two layouts' shared order)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1, 7, 7, 2)), rng.normal(size=(1, 4, 4, 3))
    conv = layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False, dtype="float64")
    deconv = layers.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False, output_padding=0,
                                    dtype="float64")
    conv(x)
    deconv(y)
    K = conv.get_weights()[0]                             # (3, 3, in=2, filters=3)
    deconv.set_weights([K])                               # (3, 3, filters=2, in=3): the same array
    lhs = float((conv(x).numpy() * y).sum())
    rhs = float((x * deconv(y).numpy()).sum())
    assert abs(lhs - rhs) < 1e-10 * max(1.0, abs(lhs))


def test_conv2d_transpose_rejects_output_padding_not_below_stride():
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv2DTranspose(1, 3, strides=2, output_padding=2)(np.zeros((1, 3, 3, 1), np.float32))
