"""The layers tutorials reach for beyond the core set: PReLU, SpatialDropout1D/2D, GaussianNoise,
GaussianDropout, Permute, UpSampling1D, ZeroPadding1D, Cropping1D, Dot, Rescaling, Normalization.

Each passes the layer contract (float64 gradcheck where it is differentiable); the random layers
are checked in training by the statistics of their noise, and Normalization's ``adapt`` and its
``.keras`` round trip are checked against Keras 3 at the end (the set_weights comparisons are rows
of tests/layers/test_layers_keras.py).
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from helpers import layer_contract

import shendu as sd
from shendu import initializers, layers
from shendu.testing import gradcheck

# ---------------------------------------------------------------- PReLU


def _prelu(x, alpha):
    return np.maximum(x, 0) - alpha * np.maximum(-x, 0)


@pytest.mark.parametrize("shared_axes,shape,alpha_shape", [
    (None, (2, 5), (5,)),
    ([1, 2], (2, 3, 4, 5), (1, 1, 5)),
    (1, (2, 3, 4), (1, 4)),
], ids=["per-unit", "per-channel", "int-axis"])
def test_prelu_contract(shared_axes, shape, alpha_shape):
    make = partial(layers.PReLU, alpha_initializer=initializers.RandomUniform(0.1, 0.5), shared_axes=shared_axes)
    layer_contract(make, shape, shape, [alpha_shape], kinks=(0.0,), reference=lambda x, alpha: _prelu(x, alpha))


def test_prelu_starts_as_relu_and_learns_alpha_with_regularizer():
    layer = layers.PReLU(alpha_regularizer="l2")
    x = np.array([[-2.0, 3.0]], np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), [[0.0, 3.0]])
    assert layer.get_weights()[0].tolist() == [0.0, 0.0] and layer.weights[0].name == "alpha"
    assert len(layer.losses) == 1


def test_prelu_shared_axes_out_of_range_explains():
    with pytest.raises(ValueError, match=r"shared_axes \[3\].*1\.\.2"):
        layers.PReLU(shared_axes=[3])(np.zeros((2, 3, 4), np.float32))


# ---------------------------------------------------------------- dropout and noise (identity at inference)

RANDOM = [
    (partial(layers.SpatialDropout1D, 0.5), (2, 4, 3)),
    (partial(layers.SpatialDropout2D, 0.5), (2, 3, 3, 2)),
    (partial(layers.SpatialDropout2D, 0.5, data_format="channels_first"), (2, 2, 3, 3)),
    (partial(layers.GaussianNoise, 0.5), (3, 4)),
    (partial(layers.GaussianDropout, 0.4), (3, 4)),
]


@pytest.mark.parametrize("make,shape", RANDOM, ids=["sd1d", "sd2d", "sd2d-cf", "gnoise", "gdropout"])
def test_random_layer_contract_is_identity_at_inference(make, shape):
    layer_contract(make, shape, shape, [], reference=lambda x: x)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(make()(x, training=False).numpy(), x)


@pytest.mark.parametrize("make,shape,channel_axes", [
    (partial(layers.SpatialDropout1D, 0.3, seed=1), (64, 10, 32), (0, 2)),
    (partial(layers.SpatialDropout2D, 0.3, seed=1), (64, 4, 5, 32), (0, 3)),
    (partial(layers.SpatialDropout2D, 0.3, data_format="channels_first", seed=1), (64, 32, 4, 5), (0, 1)),
], ids=["1d", "2d", "2d-cf"])
def test_spatial_dropout_drops_whole_channels(make, shape, channel_axes):
    x = sd.tensor(np.random.default_rng(0).uniform(1.0, 2.0, shape).astype(np.float32), requires_grad=True)
    y = make()(x, training=True)
    y.sum().backward()
    mask = x.grad.numpy()                       # dy/dx: the scaled mask itself
    other = tuple(a for a in range(len(shape)) if a not in channel_axes)
    # each (sample, channel) map is all kept (scaled by 1/(1-rate)) or all zero
    assert np.all(mask.min(axis=other) == mask.max(axis=other))
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((mask == 0).mean() - 0.3) < 0.05
    np.testing.assert_allclose(y.numpy(), x.numpy() * mask, rtol=1e-6)
    np.testing.assert_array_equal(make()(x, training=True).numpy(), y.numpy())     # the seed repeats


def test_spatial_dropout_needs_its_rank():
    with pytest.raises(ValueError, match=r"rank 3 \(batch, time, channels\)"):
        layers.SpatialDropout1D(0.5)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        layers.SpatialDropout2D(0.5)(np.zeros((2, 3, 4), np.float32))


def test_gaussian_noise_adds_noise_of_stddev_in_training():
    x = sd.tensor(np.ones((200, 100), np.float32), requires_grad=True)
    y = layers.GaussianNoise(0.3, seed=2)(x, training=True)
    noise = y.numpy() - 1.0
    assert y.dtype == np.float32
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.3) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1.0)


def test_gaussian_dropout_multiplies_by_noise_around_one():
    x = sd.tensor(np.full((200, 100), 2.0, np.float32), requires_grad=True)
    y = layers.GaussianDropout(0.2, seed=3)(x, training=True)
    factor = y.numpy() / 2.0
    assert abs(factor.mean() - 1.0) < 0.01 and abs(factor.std() - math.sqrt(0.2 / 0.8)) < 0.01
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), factor, rtol=1e-6)


def test_noise_follows_the_fit_flag():
    from shendu.models import Sequential
    model = Sequential([layers.Input((3,)), layers.GaussianNoise(1.0)])
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.allclose(model(x, training=True).numpy(), x)


@pytest.mark.parametrize("make", [lambda: layers.GaussianNoise(1.5), lambda: layers.GaussianDropout(1.0),
                                  lambda: layers.SpatialDropout1D(1.0)], ids=["stddev", "gdropout", "sdropout"])
def test_noise_arguments_out_of_range_are_refused(make):
    with pytest.raises(ValueError, match=r"\[0, 1|between 0 and 1"):
        make()


# ---------------------------------------------------------------- Permute and the 1-D reshaping layers

@pytest.mark.parametrize("dims,shape", [((2, 1), (2, 3, 4)), ((3, 1, 2), (2, 3, 4, 5)), ((1, 2), (2, 3, 4))],
                         ids=["swap", "rotate", "identity"])
def test_permute_contract(dims, shape):
    out = (shape[0],) + tuple(shape[d] for d in dims)
    layer_contract(partial(layers.Permute, dims), shape, out, [],
                   reference=lambda x: np.transpose(x, (0,) + dims))


def test_permute_bad_dims_explain():
    with pytest.raises(ValueError, match="permutation of 1..2"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="rank 3"):
        layers.Permute((2, 1))(np.zeros((2, 3, 4, 5), np.float32))


@pytest.mark.parametrize("size", [2, 3])
def test_upsampling1d_contract(size):
    layer_contract(partial(layers.UpSampling1D, size), (2, 4, 3), (2, 4 * size, 3), [],
                   reference=lambda x: np.repeat(x, size, axis=1))


def test_upsampling1d_size_must_be_a_positive_int():
    with pytest.raises(ValueError, match="positive int"):
        layers.UpSampling1D((2,))


@pytest.mark.parametrize("padding,data_format,shape,out", [
    (1, None, (2, 3, 4), (2, 5, 4)),
    ((0, 2), "channels_last", (2, 3, 4), (2, 5, 4)),
    ((2, 1), "channels_first", (2, 3, 4), (2, 3, 7)),
], ids=["default", "after", "channels-first"])
def test_zero_padding1d_contract(padding, data_format, shape, out):
    pads = (padding, padding) if isinstance(padding, int) else padding
    width = ((0, 0), (0, 0), pads) if data_format == "channels_first" else ((0, 0), pads, (0, 0))
    layer_contract(partial(layers.ZeroPadding1D, padding, data_format=data_format), shape, out, [],
                   reference=lambda x: np.pad(x, width))


@pytest.mark.parametrize("cropping,out", [((1, 1), (2, 4, 3)), ((0, 2), (2, 4, 3)), (2, (2, 2, 3))],
                         ids=["default", "end-only", "int"])
def test_cropping1d_contract(cropping, out):
    before, after = (cropping, cropping) if isinstance(cropping, int) else cropping
    layer_contract(partial(layers.Cropping1D, cropping), (2, 6, 3), out, [],
                   reference=lambda x: x[:, before:x.shape[1] - after, :])


def test_cropping1d_too_much_explains():
    with pytest.raises(ValueError, match=r"crops 2 \+ 2 steps, which leaves nothing.*4 steps"):
        layers.Cropping1D(2)(np.zeros((1, 4, 2), np.float32))


def test_one_dimensional_layers_need_rank_3():
    for layer in (layers.UpSampling1D(), layers.ZeroPadding1D(), layers.Cropping1D()):
        with pytest.raises(ValueError, match=r"rank 3 \(batch, time, features\)"):
            layer(np.zeros((2, 6), np.float32))


# ---------------------------------------------------------------- Dot

def _batch_dot(xs, axes, normalize):
    x, y = xs
    a1, a2 = (axes, axes) if isinstance(axes, int) else axes
    a1, a2 = a1 % x.ndim, a2 % y.ndim
    if normalize:
        x = x / np.maximum(np.sqrt((x * x).sum(axis=a1, keepdims=True)), 1e-7)
        y = y / np.maximum(np.sqrt((y * y).sum(axis=a2, keepdims=True)), 1e-7)
    out = np.stack([np.tensordot(x[b], y[b], axes=(a1 - 1, a2 - 1)) for b in range(len(x))])
    return out.reshape(len(x), 1) if out.ndim == 1 else out


DOT = [  # (axes, input shapes, output shape)
    (1, [(3, 4), (3, 4)], (3, 1)),
    (-1, [(2, 3, 4), (2, 5, 4)], (2, 3, 5)),
    ((1, 2), [(2, 4, 3), (2, 5, 4)], (2, 3, 5)),
    ((2, 1), [(2, 3, 4), (2, 4)], (2, 3)),
    ((1, 1), [(2, 4), (2, 4, 3)], (2, 3)),
    ((2, 3), [(2, 3, 4, 5), (2, 2, 3, 4)], (2, 3, 5, 2, 3)),
]


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "cosine"])
@pytest.mark.parametrize("axes,shapes,out", DOT, ids=["vectors", "last", "pair", "matrix-vector", "vector-matrix",
                                                      "rank4"])
def test_dot_contract(axes, shapes, out, normalize):
    layer_contract(partial(layers.Dot, axes, normalize=normalize), shapes, out, [],
                   reference=lambda xs: _batch_dot(xs, axes, normalize))


def test_dot_function_and_cosine_range():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32)
    y = layers.dot([a, b], axes=1, normalize=True).numpy()
    assert y.shape == (4, 1) and np.all(np.abs(y) <= 1 + 1e-6)
    np.testing.assert_allclose(layers.dot([a, a], axes=-1, normalize=True).numpy(), 1.0, rtol=1e-6)


def test_dot_errors_explain():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Dot(1)([x, x, x])
    with pytest.raises(ValueError, match=r"axis 1 of the first input \(3\).*axis 1 of the second \(4\)"):
        layers.Dot(1)([x, np.zeros((2, 4), np.float32)])
    with pytest.raises(ValueError, match="batch axis 0"):
        layers.Dot(0)([x, x])
    with pytest.raises(ValueError, match="pair of ints"):
        layers.Dot((1, 2, 3))


# ---------------------------------------------------------------- Rescaling

@pytest.mark.parametrize("scale,offset,shape", [
    (1 / 255, 0.0, (2, 5)),
    (1 / 127.5, -1.0, (2, 3, 4)),
    (np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, -1.0]), (2, 4, 3)),
], ids=["pixels", "offset", "per-channel"])
def test_rescaling_contract(scale, offset, shape):
    layer_contract(partial(layers.Rescaling, scale, offset=offset), shape, shape, [],
                   reference=lambda x: x * scale + offset)


def test_rescaling_casts_integer_pixels_to_float():
    y = layers.Rescaling(1 / 255)(np.array([[0, 255, 51]], np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), [[0.0, 1.0, 0.2]], rtol=1e-6)


def test_rescaling_array_config_is_keras_encoded():
    config = layers.Rescaling(np.array([1.0, 2.0]), offset=0.5).get_config()
    assert config["scale"] == {"class_name": "__numpy__", "config": {"value": [1.0, 2.0], "dtype": "float64"}}
    np.testing.assert_array_equal(layers.Rescaling.from_config(config).scale, [1.0, 2.0])


# ---------------------------------------------------------------- Normalization

@pytest.mark.parametrize("kwargs,shape,stats", [
    (dict(mean=[1.0, -2.0, 0.5], variance=[4.0, 1.0, 0.25]), (4, 3), ((3,), (3,))),
    (dict(mean=[1.0, -2.0, 0.5], variance=[4.0, 1.0, 0.25], invert=True), (4, 3), ((3,), (3,))),
    (dict(axis=None, mean=2.0, variance=9.0), (2, 3, 4), ((), ())),
    (dict(axis=(1, 2), mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), (2, 5, 3), ((1, 5, 3), (1, 5, 3))),
    (dict(axis=1, mean=[1.0, 2.0], variance=[1.0, 4.0]), (3, 2, 4), ((1, 2, 1), (1, 2, 1))),
], ids=["features", "invert", "scalar", "two-axes", "axis1"])
def test_normalization_contract_with_given_statistics(kwargs, shape, stats):
    mean, variance = (np.asarray(kwargs[k], np.float64) for k in ("mean", "variance"))
    ndim = len(shape)
    keep = [a % ndim for a in ((-1,) if "axis" not in kwargs else () if kwargs["axis"] is None else
                               (kwargs["axis"],) if isinstance(kwargs["axis"], int) else kwargs["axis"])]
    bshape = [1] * ndim
    for i in range(1, mean.ndim + 1):
        bshape[sorted(keep)[-i]] = mean.shape[-i]
    m, s = mean.reshape(bshape), np.maximum(np.sqrt(variance.reshape(bshape)), 1e-7)

    def reference(x):
        return m + x * s if kwargs.get("invert") else (x - m) / s
    layer_contract(partial(layers.Normalization, **kwargs), shape, shape, [], reference=reference)


def test_normalization_adapt_sets_non_trainable_weights_as_keras_stores_them():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(500, 3)) * [1.0, 2.0, 3.0] + [4.0, -5.0, 6.0]).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(x)
    assert [w.name for w in norm.weights] == ["mean", "variance", "count"]
    assert [w.dtype for w in norm.get_weights()] == [np.float32, np.float32, np.int32]
    assert norm.trainable_weights == [] and len(norm.non_trainable_weights) == 3
    np.testing.assert_allclose(norm.get_weights()[0], x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.get_weights()[1], x.var(axis=0), rtol=1e-5)
    y = norm(x).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)
    inverse = layers.Normalization(invert=True)
    inverse.adapt(x)
    np.testing.assert_allclose(inverse(y).numpy(), x, atol=1e-4)


def test_normalization_adapt_on_batches_equals_adapt_on_the_whole():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(70, 4, 2)).astype(np.float32)
    whole, batched, generator = (layers.Normalization(axis=(1, 2)) for _ in range(3))
    whole.adapt(x)
    batched.adapt([x[:25], x[25:40], x[40:]])
    generator.adapt((x[i:i + 16], None) for i in range(0, 70, 16))       # (x, y) batches: x is used
    for other in (batched, generator):
        for a, b in zip(whole.get_weights()[:2], other.get_weights()[:2]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_normalization_axis_none_and_gradient():
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 2.0, size=(6, 3))
    norm = layers.Normalization(axis=None, dtype="float64")
    norm.adapt(x)
    assert [w.shape for w in norm.weights] == [(), (), ()]
    np.testing.assert_allclose(norm(x).numpy(), (x - x.mean()) / x.std(), rtol=1e-10)
    assert gradcheck(lambda t: norm(t), x)


def test_normalization_inside_a_model_adapts_after_build():
    from shendu.models import Sequential
    model = Sequential([layers.Input((2,)), layers.Normalization(), layers.Dense(1)])
    x = np.array([[0.0, 10.0], [2.0, 30.0]], np.float32)
    model.layers[0].adapt(x)
    np.testing.assert_allclose(model.layers[0](x).numpy(), [[-1.0, -1.0], [1.0, 1.0]], rtol=1e-5)


def test_normalization_errors_explain():
    with pytest.raises(ValueError, match="both mean and variance"):
        layers.Normalization(mean=[1.0])
    with pytest.raises(ValueError, match="same shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    with pytest.raises(ValueError, match="nothing to adapt"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(np.zeros((2, 3), np.float32))
    norm = layers.Normalization()
    norm.adapt(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"adapt\(\) got data of shape \(4, 5\)"):
        norm.adapt(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="known size"):
        layers.Normalization(axis=1).build((None, None, 3))


def test_normalization_round_trips_through_a_keras_file(tmp_path):
    from shendu import saving
    from shendu.models import Sequential
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(50, 3)).astype(np.float32)
    model = Sequential([layers.Input((3,)), layers.Normalization(), layers.Dense(2)])
    model.layers[0].adapt(x)
    model.save(tmp_path / "m.keras")
    back = saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    for a, b in zip(back.layers[0].get_weights(), model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


# ---------------------------------------------------------------- against Keras 3 (beyond the set_weights table)

def test_normalization_adapt_matches_keras(keras):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(200, 3, 4)) * 3.0 + 1.0).astype(np.float32)
    for axis in (-1, (1, 2), None):
        theirs, ours = keras.layers.Normalization(axis=axis), layers.Normalization(axis=axis)
        theirs.adapt(x)
        ours.adapt(x)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), atol=1e-5)


def test_adapted_normalization_file_works_in_keras_and_back(keras, tmp_path):
    from shendu import saving
    from shendu.models import Sequential
    x = np.random.default_rng(5).normal(-3.0, 4.0, size=(40, 5)).astype(np.float32)
    model = Sequential([layers.Input((5,)), layers.Normalization()])
    model.layers[0].adapt(x)
    model.save(tmp_path / "s.keras")
    km = keras.saving.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(km(x)), model.predict(x, verbose=0), atol=1e-5)
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Normalization()])
    kmodel.layers[0].adapt(x)
    kmodel.save(tmp_path / "k.keras")
    back = saving.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), keras.ops.convert_to_numpy(kmodel(x)), atol=1e-5)


@pytest.mark.parametrize("name,args,shape,check", [
    ("SpatialDropout1D", dict(rate=0.4), (64, 8, 32), "channels"),
    ("SpatialDropout2D", dict(rate=0.4), (64, 3, 3, 32), "channels"),
    ("GaussianNoise", dict(stddev=0.4), (100, 100), "additive"),
    ("GaussianDropout", dict(rate=0.4), (100, 100), "multiplicative"),
], ids=["sd1d", "sd2d", "gnoise", "gdropout"])
def test_training_noise_statistics_match_keras(keras, name, args, shape, check):
    x = np.full(shape, 2.0, np.float32)
    outs = [np.asarray(keras.ops.convert_to_numpy(getattr(keras.layers, name)(**args, seed=7)(x, training=True))),
            getattr(layers, name)(**args, seed=7)(x, training=True).numpy()]
    stats = []
    for y in outs:
        if check == "channels":
            stats.append(((y == 0).mean(), y[y != 0].min() / 2.0, y[y != 0].max() / 2.0))
        elif check == "additive":
            stats.append(((y - x).mean(), (y - x).std()))
        else:
            stats.append(((y / x).mean(), (y / x).std()))
    np.testing.assert_allclose(stats[1], stats[0], atol=0.04)


def test_activity_regularization_contract_and_penalty():
    layer_contract(partial(layers.ActivityRegularization, l1=0.01, l2=0.1), (3, 4), (3, 4), [],
                   reference=lambda x: x)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    layer = layers.ActivityRegularization(l1=0.01, l2=0.1)
    layer(x)
    expected = (0.01 * np.abs(x).sum() + 0.1 * (x ** 2).sum()) / 3
    assert float(layer.losses[0].numpy()) == pytest.approx(expected, rel=1e-5)
