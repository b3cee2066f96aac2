"""shendu/layers/pooling.py: local and global pooling through the layer contract, against a
window-by-window NumPy reference with TensorFlow's padding ('same' averages only real cells)."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import distinct, layer_contract

import shendu as sd
from shendu import layers


def _out_and_top(size, k, s, padding):
    if padding == "valid":
        return (size - k) // s + 1, 0
    out = -(-size // s)
    return out, max((out - 1) * s + k - size, 0) // 2


def np_pool2d(x, k, s, padding, reduce):
    """Each output cell reduces the real input cells of its window (padding cells are never read)."""
    (oh, top), (ow, left) = _out_and_top(x.shape[1], k[0], s[0], padding), _out_and_top(x.shape[2], k[1], s[1], padding)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - top, j * s[1] - left
            window = x[:, max(r0, 0):min(r0 + k[0], x.shape[1]), max(c0, 0):min(c0 + k[1], x.shape[2])]
            y[:, i, j] = reduce(window, axis=(1, 2))
    return y


def np_pool1d(x, k, s, padding, reduce):
    return np_pool2d(x[:, None], (1, k), (1, s), padding, reduce)[:, 0]


POOL2D = [  # (layer, kwargs, input shape, output (h, w))
    ("MaxPooling2D", dict(), (2, 6, 7, 3), (3, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 6, 2), (4, 3)),
    ("MaxPooling2D", dict(pool_size=(3, 2), strides=1), (1, 5, 4, 2), (3, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2), (1, 7, 7, 1), (3, 3)),
    ("AveragePooling2D", dict(pool_size=2, padding="same"), (2, 5, 5, 2), (3, 3)),
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (1, 6, 7, 2), (3, 4)),
    ("AveragePooling2D", dict(pool_size=3, strides=1), (1, 5, 4, 1), (3, 2)),
    ("AveragePooling2D", dict(pool_size=(2, 3), strides=(1, 2)), (2, 4, 7, 1), (3, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape,out", POOL2D,
                         ids=["max-default", "max-overlap-same", "max-rect-s1", "max-overlap-valid",
                              "avg-same", "avg-overlap-same", "avg-overlap-valid", "avg-rect"])
def test_pooling2d_contract(name, kwargs, shape, out):
    k = kwargs.get("pool_size", 2)
    k = (k, k) if isinstance(k, int) else k
    s = kwargs.get("strides", k)
    s = (s, s) if isinstance(s, int) else s
    reduce = np.max if name.startswith("Max") else np.mean
    layer_contract(partial(getattr(layers, name), **kwargs), shape, (shape[0], *out, shape[-1]), [],
                   domain=distinct(-2.0, 2.0),
                   reference=lambda x: np_pool2d(x, k, s, kwargs.get("padding", "valid"), reduce))


POOL1D = [
    ("MaxPooling1D", dict(pool_size=2), (2, 7, 3), 3),
    ("MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 6, 2), 6),
    ("MaxPooling1D", dict(pool_size=3, strides=2), (1, 9, 2), 4),
    ("AveragePooling1D", dict(pool_size=3, strides=2), (2, 8, 3), 3),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (1, 8, 1), 4),
    ("AveragePooling1D", dict(pool_size=2, padding="same"), (2, 7, 2), 4),
]


@pytest.mark.parametrize("name,kwargs,shape,out", POOL1D,
                         ids=["max", "max-overlap-same", "max-overlap-valid", "avg-overlap", "avg-overlap-same",
                              "avg-same"])
def test_pooling1d_contract(name, kwargs, shape, out):
    k = kwargs["pool_size"]
    s = kwargs.get("strides", k)
    reduce = np.max if name.startswith("Max") else np.mean
    layer_contract(partial(getattr(layers, name), **kwargs), shape, (shape[0], out, shape[-1]), [],
                   domain=distinct(-2.0, 2.0),
                   reference=lambda x: np_pool1d(x, k, s, kwargs.get("padding", "valid"), reduce))


def test_pooling2d_channels_first_contract():
    layer_contract(partial(layers.MaxPooling2D, data_format="channels_first"), (1, 2, 5, 6), (1, 2, 2, 3), [],
                   domain=distinct(-2.0, 2.0),
                   reference=lambda x: np.moveaxis(np_pool2d(np.moveaxis(x, 1, -1), (2, 2), (2, 2), "valid", np.max),
                                                   -1, 1))


def test_max_pooling_gradient_goes_to_the_argmax_only():
    x = sd.tensor(np.array([[[[1.0], [5.0]], [[3.0], [2.0]]]], np.float32), requires_grad=True)
    layers.MaxPooling2D()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0, 1, 0, 0])


def test_pooling_rejects_wrong_rank_and_padding():
    with pytest.raises(ValueError, match="rank 4"):
        layers.MaxPooling2D()(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="padding"):
        layers.AveragePooling1D(padding="causal")


# ---------------------------------------------------------------- global pooling

GLOBAL = [  # (layer, kwargs, input shape, output shape, reduce axes)
    ("GlobalAveragePooling2D", {}, (2, 4, 5, 3), (2, 3), (1, 2)),
    ("GlobalMaxPooling2D", {}, (2, 4, 5, 3), (2, 3), (1, 2)),
    ("GlobalAveragePooling2D", dict(keepdims=True), (2, 3, 4, 2), (2, 1, 1, 2), (1, 2)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (2, 3, 4, 2), (2, 1, 1, 2), (1, 2)),
    ("GlobalAveragePooling2D", dict(data_format="channels_first"), (2, 3, 4, 2), (2, 3), (2, 3)),
    ("GlobalAveragePooling1D", {}, (2, 6, 3), (2, 3), (1,)),
    ("GlobalMaxPooling1D", {}, (2, 6, 3), (2, 3), (1,)),
    ("GlobalAveragePooling1D", dict(keepdims=True), (2, 5, 3), (2, 1, 3), (1,)),
    ("GlobalMaxPooling1D", dict(keepdims=True), (2, 5, 3), (2, 1, 3), (1,)),
    ("GlobalMaxPooling1D", dict(data_format="channels_first"), (2, 3, 5), (2, 3), (2,)),
]


@pytest.mark.parametrize("name,kwargs,shape,out,axes", GLOBAL,
                         ids=["avg2d", "max2d", "avg2d-keepdims", "max2d-keepdims", "avg2d-channels-first",
                              "avg1d", "max1d", "avg1d-keepdims", "max1d-keepdims", "max1d-channels-first"])
def test_global_pooling_contract(name, kwargs, shape, out, axes):
    reduce = np.max if "Max" in name else np.mean
    layer_contract(partial(getattr(layers, name), **kwargs), shape, out, [], domain=distinct(-2.0, 2.0),
                   reference=lambda x: reduce(x, axis=axes, keepdims=kwargs.get("keepdims", False)))


MASK = np.array([[True, True, False, True, False], [True, False, False, False, False]])


def _masked_mean(x, keepdims=False):
    m = MASK[..., None]
    return (x * m).sum(axis=1, keepdims=keepdims) / m.sum(axis=1, keepdims=keepdims)


def _max_ignoring_mask(x, keepdims=False):
    return x.max(axis=1, keepdims=keepdims)     # GlobalMaxPooling1D does not support masking (as in Keras)


@pytest.mark.parametrize("name,ref", [("GlobalAveragePooling1D", _masked_mean),
                                      ("GlobalMaxPooling1D", _max_ignoring_mask)], ids=["avg", "max"])
@pytest.mark.parametrize("keepdims", [False, True], ids=["flat", "keepdims"])
def test_global_pooling_1d_mask_contract(name, ref, keepdims):
    out = (2, 1, 3) if keepdims else (2, 3)
    layer_contract(partial(getattr(layers, name), keepdims=keepdims), (2, 5, 3), out, [],
                   call_kwargs=dict(mask=MASK), domain=distinct(-2.0, 2.0),
                   reference=lambda x: ref(x, keepdims))


@pytest.mark.parametrize("name,ref", [("GlobalAveragePooling1D", _masked_mean),
                                      ("GlobalMaxPooling1D", _max_ignoring_mask)], ids=["avg", "max"])
def test_global_pooling_1d_mask_channels_first_contract(name, ref):
    layer_contract(partial(getattr(layers, name), data_format="channels_first"), (2, 3, 5), (2, 3), [],
                   call_kwargs=dict(mask=MASK), domain=distinct(-2.0, 2.0),
                   reference=lambda x: ref(np.swapaxes(x, 1, 2)))


@pytest.mark.parametrize("name", ["GlobalAveragePooling1D"])
def test_global_pooling_1d_masked_steps_get_no_gradient(name):
    x = sd.tensor(np.random.default_rng(0).normal(size=(2, 5, 3)), requires_grad=True)
    getattr(layers, name)(dtype="float64")(x, mask=MASK).sum().backward()
    assert np.all(x.grad.numpy()[~MASK] == 0)


def test_global_pooling_1d_reads_the_mask_of_its_input():
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    t = sd.tensor(x)
    t._keras_mask = MASK                       # as Embedding(mask_zero=True) or Masking would leave it
    np.testing.assert_allclose(layers.GlobalAveragePooling1D()(t).numpy(), _masked_mean(x), rtol=1e-6)
