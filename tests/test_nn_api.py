"""shendu/nn_api.py: keras.ops.nn's functions against NumPy references, float64 gradient-checked."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from helpers import Row, cases, check_row, signed

from shendu import nn_api as nn

UNARY = [((3, 4),), ((1,),), ((2, 1, 3),)]
SIG = scipy.special.expit


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _attention(q, k, v, mask=None, causal=False):
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
    keep = np.ones(logits.shape[-2:], bool) if mask is None else mask
    if causal:
        keep = keep & np.tril(np.ones(logits.shape[-2:], bool))
    logits = np.where(keep, logits, -1e300)
    return np.einsum("bhqk,bkhd->bqhd", _softmax(logits), v)


def _conv1d(x, k, stride=1):
    n, length, _ = x.shape
    size = k.shape[0]
    out = (length - size) // stride + 1
    return np.stack([np.einsum("nkc,kcf->nf", x[:, i * stride:i * stride + size], k) for i in range(out)], 1)


SOFT = lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731
ROWS = [
    Row("relu", nn.relu, lambda x: np.maximum(x, 0), UNARY, kinks=(0.0,)),
    Row("relu6", nn.relu6, lambda x: np.clip(x, 0, 6), UNARY, domain=(-2.0, 8.0), kinks=(0.0, 6.0)),
    Row("sigmoid", nn.sigmoid, SIG, UNARY),
    Row("log_sigmoid", nn.log_sigmoid, lambda x: np.log(SIG(x)), UNARY),
    Row("softplus", nn.softplus, lambda x: np.log1p(np.exp(x)), UNARY),
    Row("softsign", nn.softsign, lambda x: x / (1 + np.abs(x)), UNARY, kinks=(0.0,)),
    Row("silu", nn.silu, lambda x: x * SIG(x), UNARY),
    Row("swish", nn.swish, lambda x: x * SIG(x), UNARY),
    Row("hard_sigmoid", nn.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), UNARY, domain=(-4.0, 4.0),
        kinks=(-3.0, 3.0)),
    Row("hard_silu", nn.hard_silu, lambda x: x * np.clip(x / 6 + 0.5, 0, 1), UNARY, domain=(-4.0, 4.0),
        kinks=(-3.0, 3.0)),
    Row("hard_swish", nn.hard_swish, lambda x: x * np.clip(x / 6 + 0.5, 0, 1), UNARY, kinks=(-3.0, 3.0)),
    Row("hard_tanh", nn.hard_tanh, lambda x: np.clip(x, -1, 1), UNARY, kinks=(-1.0, 1.0)),
    Row("tanh", nn.tanh, np.tanh, UNARY),
    Row("tanh_shrink", nn.tanh_shrink, lambda x: x - np.tanh(x), UNARY),
    Row("hard_shrink", nn.hard_shrink, lambda x: np.where(np.abs(x) > 0.5, x, 0), UNARY, kinks=(-0.5, 0.5)),
    Row("soft_shrink", nn.soft_shrink, lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
        UNARY, kinks=(-0.5, 0.5)),
    Row("threshold", lambda x: nn.threshold(x, 0.3, -1.0), lambda x: np.where(x > 0.3, x, -1.0), UNARY,
        kinks=(0.3,)),
    Row("leaky_relu", nn.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), UNARY, kinks=(0.0,)),
    Row("elu", nn.elu, lambda x: np.where(x > 0, x, np.expm1(x)), UNARY, kinks=(0.0,)),
    Row("selu", nn.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        UNARY, kinks=(0.0,)),
    Row("celu", lambda x: nn.celu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)), UNARY,
        kinks=(0.0,)),
    Row("gelu", nn.gelu, SOFT, UNARY),
    Row("gelu_exact", lambda x: nn.gelu(x, False), lambda x: x * 0.5 * (1 + scipy.special.erf(x / np.sqrt(2))),
        UNARY),
    Row("glu", nn.glu, lambda x: x[..., :2] * SIG(x[..., 2:]), [((3, 4),)]),
    Row("squareplus", nn.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2, UNARY),
    Row("sparse_plus", nn.sparse_plus, lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
        UNARY, kinks=(-1.0, 1.0)),
    Row("sparse_sigmoid", nn.sparse_sigmoid, lambda x: np.clip((x + 1) / 2, 0, 1), UNARY, kinks=(-1.0, 1.0)),
    Row("softmax", nn.softmax, _softmax, UNARY),
    Row("softmax_axis0", lambda x: nn.softmax(x, 0), lambda x: _softmax(x, 0), [((3, 4),)]),
    Row("softmax_axes", lambda x: nn.softmax(x, (0, 1)), lambda x: _softmax(x.reshape(-1)).reshape(x.shape),
        [((3, 4),)]),
    Row("log_softmax", nn.log_softmax, lambda x: np.log(_softmax(x)), UNARY),
    Row("log_softmax_none", lambda x: nn.log_softmax(x, None), lambda x: np.log(_softmax(x.reshape(-1))).reshape(
        x.shape), [((3, 4),)]),
    Row("conv1d", lambda x, k: nn.conv(x, k, strides=2), lambda x, k: _conv1d(x, k, 2), [((2, 7, 3), (3, 3, 4))]),
    Row("conv_channels_first", lambda x, k: nn.conv(x, k, data_format="channels_first"),
        lambda x, k: np.moveaxis(_conv1d(np.moveaxis(x, 1, -1), k), -1, 1), [((2, 3, 6), (2, 3, 2))]),
    Row("depthwise_conv", lambda x, k: nn.depthwise_conv(x, k),
        lambda x, k: np.concatenate([_conv1d(x[..., c:c + 1], k[:, c:c + 1]) for c in range(2)], -1),
        [((2, 5, 2), (3, 2, 3))]),
    Row("separable_conv", lambda x, d, p: nn.separable_conv(x, d, p),
        lambda x, d, p: np.concatenate([_conv1d(x[..., c:c + 1], d[:, c:c + 1]) for c in range(2)], -1) @ p[0],
        [((2, 5, 2), (3, 2, 1), (1, 2, 4))]),
    Row("max_pool", lambda x: nn.max_pool(x, 2), lambda x: x[:, :6].reshape(2, 3, 2, 3).max(2),
        [((2, 7, 3),)], domain=signed(0.1, 2.0)),
    Row("average_pool", lambda x: nn.average_pool(x, (2, 2)), lambda x: x.reshape(1, 2, 2, 2, 2, 1).mean((2, 4)),
        [((1, 4, 4, 1),)]),
    Row("binary_crossentropy", lambda t, p: nn.binary_crossentropy(t, p),
        lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)), [((3, 4), (3, 4))],
        domain=[(0.0, 1.0), (0.05, 0.95)]),
    Row("binary_crossentropy_logits", lambda t, z: nn.binary_crossentropy(t, z, from_logits=True),
        lambda t, z: -(t * np.log(SIG(z)) + (1 - t) * np.log(1 - SIG(z))), [((3, 4), (3, 4))],
        domain=[(0.0, 1.0), (-3.0, 3.0)]),
    Row("categorical_crossentropy", lambda t, p: nn.categorical_crossentropy(t, p),
        lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1), [((3, 4), (3, 4))],
        domain=[(0.0, 1.0), (0.1, 1.0)]),
    Row("categorical_crossentropy_logits", lambda t, z: nn.categorical_crossentropy(t, z, True, 0),
        lambda t, z: -(t * np.log(_softmax(z, 0))).sum(0), [((3, 4), (3, 4))], domain=[(0.0, 1.0), (-2.0, 2.0)]),
    Row("sparse_categorical_crossentropy", lambda z: nn.sparse_categorical_crossentropy(np.array([2, 0, 1]), z,
                                                                                       from_logits=True),
        lambda z: -np.log(_softmax(z))[np.arange(3), [2, 0, 1]], [((3, 4),)]),
    Row("moments_mean", lambda x: nn.moments(x, [0, 2])[0], lambda x: x.mean((0, 2)), [((2, 3, 4),)]),
    Row("moments_var", lambda x: nn.moments(x, 1, keepdims=True)[1], lambda x: x.var(1, keepdims=True),
        [((2, 3, 4),)]),
    Row("batch_normalization", lambda x, m, v, b, g: nn.batch_normalization(x, m, v, 1, b, g),
        lambda x, m, v, b, g: ((x - m[:, None]) / np.sqrt(v[:, None] + 1e-3)) * g[:, None] + b[:, None],
        [((2, 3, 4), (3,), (3,), (3,), (3,))], domain=[(-2.0, 2.0), (-1.0, 1.0), (0.5, 2.0), (-1.0, 1.0),
                                                      (0.5, 2.0)]),
    Row("normalize", nn.normalize, lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True), [((3, 4),)]),
    Row("normalize_l1", lambda x: nn.normalize(x, 0, 1), lambda x: x / np.abs(x).sum(0), [((3, 4),)],
        domain=signed(0.1, 2.0)),
    Row("layer_normalization", lambda x, g, b: nn.layer_normalization(x, g, b),
        lambda x, g, b: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7) * g + b,
        [((3, 4), (4,), (4,))]),
    Row("layer_normalization_rms", lambda x, g: nn.layer_normalization(x, g, axis=(1, 2), rms_scaling=True),
        lambda x, g: x / np.sqrt(x.var((1, 2), keepdims=True) + 1e-7) * g, [((2, 3, 4), (3, 4))]),
    Row("rms_normalization", lambda x, s: nn.rms_normalization(x, s),
        lambda x, s: x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-7) * s, [((3, 4), (4,))]),
    Row("psnr", lambda a, b: nn.psnr(a, b, 2.0), lambda a, b: 20 * np.log10(2.0) - 10 * np.log10(((a - b) ** 2).mean()),
        [((2, 3), (2, 3))]),
    Row("dot_product_attention", nn.dot_product_attention, _attention, [((2, 3, 2, 4), (2, 5, 2, 4), (2, 5, 2, 4))]),
    Row("dot_product_attention_causal", lambda q, k, v: nn.dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: _attention(q, k, v, causal=True), [((1, 4, 1, 2), (1, 4, 1, 2), (1, 4, 1, 2))]),
    Row("dot_product_attention_mask", lambda q, k, v: nn.dot_product_attention(
        q, k, v, mask=np.array([[True, False, True]])),
        lambda q, k, v: _attention(q, k, v, mask=np.array([[True, False, True]])),
        [((1, 2, 2, 3), (1, 3, 2, 3), (1, 3, 2, 3))]),
    Row("depth_to_space", lambda x: nn.depth_to_space(x, 2),
        lambda x: x.reshape(1, 2, 3, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 6, 2), [((1, 2, 3, 8),)]),
    Row("space_to_depth", lambda x: nn.space_to_depth(x, 2),
        lambda x: x.reshape(1, 2, 2, 3, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 2, 3, 8), [((1, 4, 6, 2),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_nn_api_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_nn_api_function_has_a_row_or_a_test():
    names = {r.name for r in ROWS} | {"one_hot", "multi_hot", "conv_transpose", "conv"}
    public = {name for name, f in vars(nn).items() if callable(f) and not name.startswith("_")
              and getattr(f, "__module__", None) == nn.__name__}
    assert {p for p in public if not any(n == p or n.startswith(p + "_") for n in names)} == set()


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x, k), y> = <x, conv_transpose(y, k)>: the transposed conv is conv's input gradient."""
    rng = np.random.default_rng(0)
    for x_shape, k_shape, strides in [((2, 7, 3), (3, 3, 4), 2), ((1, 6, 5, 2), (3, 2, 2, 3), (2, 1))]:
        x, k = rng.normal(size=x_shape), rng.normal(size=k_shape)
        y = nn.conv(x, k, strides)
        g = rng.normal(size=y.shape)
        back = nn.conv_transpose(g, k, strides)[tuple(slice(0, n) for n in x_shape)]
        padded = np.zeros(x_shape)
        padded[tuple(slice(0, n) for n in back.shape)] = back.numpy()
        np.testing.assert_allclose((y.numpy() * g).sum(), (x * padded).sum(), rtol=1e-10)


def test_one_hot_and_multi_hot():
    np.testing.assert_array_equal(nn.one_hot(np.array([0, 2, 5]), 3).numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    assert nn.one_hot(np.array([1]), 2).dtype == np.float32
    np.testing.assert_array_equal(nn.one_hot(np.array([1, 0]), 2, axis=0, dtype="int32").numpy(), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(nn.multi_hot(np.array([[0, 2], [1, 1]]), 3).numpy(), [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(nn.multi_hot(np.array([0, 3]), num_classes=4).numpy(), [1, 0, 0, 1])


def test_nn_api_errors_name_the_fix():
    with pytest.raises(ValueError, match="1-D, 2-D"):
        nn.conv(np.ones((1, 2, 2, 2, 1)), np.ones((1, 1, 1, 1, 1)))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        nn.categorical_crossentropy(np.array([1, 0]), np.ones((2, 3)))
    with pytest.raises(ValueError, match="synchronized=False"):
        nn.moments(np.ones(3), 0, synchronized=True)
    with pytest.raises(ValueError, match="order must be an int"):
        nn.normalize(np.ones(3), order=0.5)
    with pytest.raises(ValueError, match="flash attention"):
        nn.dot_product_attention(*[np.ones((1, 1, 1, 1))] * 3, flash_attention=True)
