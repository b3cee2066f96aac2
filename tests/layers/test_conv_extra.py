"""shendu/layers/conv_extra.py and the 3-D pooling layers: Conv3D, grouped convs, transposed 1-D/3-D convs,
depthwise and separable convs, MaxPooling3D/AveragePooling3D/Global*3D, UpSampling2D's interpolations.

Every layer passes the layer contract (float64 gradcheck of input and weights included), and is compared
with Keras 3 (torch backend) after copying Keras's weights: output, input gradient and every weight
gradient, output shapes (compute_output_shape with unknown axes too), and the constructor's config.
"""
from __future__ import annotations

import os
from functools import partial

import numpy as np
import pytest
from helpers import layer_contract

from shendu import layers
from shendu.testing import assert_close

os.environ.setdefault("KERAS_BACKEND", "torch")

# ---------------------------------------------------------------- the layer contract

CONTRACT = [
    (partial(layers.Conv3D, 2, (2, 3, 2), padding="same"), (2, 3, 4, 3, 2), (2, 3, 4, 3, 2),
     [(2, 3, 2, 2, 2), (2,)]),
    (partial(layers.Conv3D, 4, 2, groups=2, strides=(1, 2, 1)), (1, 3, 5, 3, 4), (1, 2, 2, 2, 4),
     [(2, 2, 2, 2, 4), (4,)]),
    (partial(layers.Conv2D, 4, 3, groups=2, padding="same"), (2, 5, 4, 2), (2, 5, 4, 4), [(3, 3, 1, 4), (4,)]),
    (partial(layers.Conv1D, 6, 2, groups=3, padding="causal", dilation_rate=2), (2, 6, 3), (2, 6, 6),
     [(2, 1, 6), (6,)]),
    (partial(layers.Conv1DTranspose, 3, 3, strides=2), (2, 4, 2), (2, 9, 3), [(3, 3, 2), (3,)]),
    (partial(layers.Conv3DTranspose, 2, 2, strides=2, padding="same", use_bias=False), (1, 2, 3, 2, 2),
     (1, 4, 6, 4, 2), [(2, 2, 2, 2, 2)]),
    (partial(layers.DepthwiseConv2D, 3, depth_multiplier=2, padding="same"), (2, 5, 4, 2), (2, 5, 4, 4),
     [(3, 3, 2, 2), (4,)]),
    (partial(layers.DepthwiseConv1D, 2, strides=2), (2, 7, 3), (2, 3, 3), [(2, 3, 1), (3,)]),
    (partial(layers.SeparableConv2D, 3, 2, depth_multiplier=2), (2, 4, 5, 2), (2, 3, 4, 3),
     [(2, 2, 2, 2), (1, 1, 4, 3), (3,)]),
    (partial(layers.SeparableConv1D, 4, 3, padding="same"), (1, 5, 2), (1, 5, 4), [(3, 2, 1), (1, 2, 4), (4,)]),
    (partial(layers.AveragePooling3D, 2, padding="same"), (2, 3, 4, 3, 2), (2, 2, 2, 2, 2), []),
    (partial(layers.GlobalAveragePooling3D), (2, 3, 2, 3, 2), (2, 2), []),
]


def _contract_id(row):
    make, shape = row[0], row[1]
    return f"{make.func.__name__}-{'x'.join(map(str, shape))}"


@pytest.mark.parametrize("make, input_shape, output_shape, weight_shapes", CONTRACT,
                         ids=[_contract_id(r) for r in CONTRACT])
def test_new_conv_layers_pass_the_layer_contract(make, input_shape, output_shape, weight_shapes):
    layer_contract(make, input_shape, output_shape, weight_shapes)


def test_max_pooling3d_passes_the_layer_contract():
    def distinct(rng, shape):        # no ties: the max's gradient is well defined for finite differences
        return rng.permutation(np.prod(shape)).reshape(shape) / np.prod(shape)
    layer_contract(partial(layers.MaxPooling3D, (2, 2, 1)), (2, 4, 3, 2, 2), (2, 2, 1, 2, 2), [], domain=distinct)
    layer_contract(partial(layers.GlobalMaxPooling3D, keepdims=True), (2, 2, 3, 2, 2), (2, 1, 1, 1, 2), [],
                   domain=distinct)


# ---------------------------------------------------------------- against Keras 3

# (layer name, constructor arguments, input shape)
KERAS_ROWS = [
    ("Conv3D", dict(filters=3, kernel_size=(2, 3, 2), strides=(1, 2, 1), padding="same"), (2, 5, 6, 5, 2)),
    ("Conv3D", dict(filters=4, kernel_size=2, groups=2, dilation_rate=(1, 2, 1)), (1, 4, 5, 3, 4)),
    ("Conv3D", dict(filters=2, kernel_size=3, data_format="channels_first", activation="relu"), (2, 3, 5, 4, 5)),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=3, padding="same", strides=2), (2, 7, 6, 3)),
    ("Conv2D", dict(filters=4, kernel_size=2, groups=2, padding="same", data_format="channels_first"),
     (1, 4, 5, 5)),
    ("Conv2D", dict(filters=4, kernel_size=3, groups=4, dilation_rate=2), (2, 7, 7, 4)),
    ("Conv1D", dict(filters=4, kernel_size=3, groups=2, padding="causal"), (2, 7, 4)),
    ("Conv1D", dict(filters=6, kernel_size=2, groups=3, strides=2, padding="same"), (1, 9, 3)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=4, strides=2, padding="same"), (2, 5, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=3, output_padding=1), (1, 5, 2)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, data_format="channels_first"), (2, 3, 5)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=(2, 3, 3), strides=2, padding="same"), (2, 3, 4, 3, 2)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=(1, 2, 2), data_format="channels_first"),
     (1, 2, 3, 4, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 6, 3)),
    ("DepthwiseConv2D", dict(kernel_size=2, dilation_rate=2, padding="same"), (1, 6, 5, 3)),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), data_format="channels_first", use_bias=False), (2, 2, 5, 6)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=3, padding="same"), (2, 7, 2)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, depth_multiplier=2, padding="same", activation="relu"),
     (2, 6, 5, 3)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, strides=2, data_format="channels_first"), (1, 3, 5, 6)),
    ("SeparableConv1D", dict(filters=4, kernel_size=2, strides=2), (2, 7, 3)),
    ("MaxPooling3D", dict(pool_size=(2, 3, 2), padding="same"), (2, 5, 6, 7, 3)),
    ("MaxPooling3D", dict(pool_size=2, data_format="channels_first"), (1, 2, 4, 5, 4)),
    ("AveragePooling3D", dict(pool_size=2, strides=1, padding="same"), (2, 3, 4, 5, 2)),
    ("AveragePooling3D", dict(pool_size=(3, 2, 2), strides=(2, 1, 2)), (1, 5, 4, 5, 2)),
    ("GlobalAveragePooling3D", {}, (2, 3, 4, 5, 2)),
    ("GlobalMaxPooling3D", dict(keepdims=True, data_format="channels_first"), (2, 2, 3, 4, 5)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, output_padding=1, padding="same"), (1, 4, 5, 3)),
    ("Conv2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same"), (2, 5, 6, 3)),
    ("Conv1D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="causal"), (2, 9, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (1, 7, 6, 2)),
    ("GlobalAveragePooling1D", dict(keepdims=True), (2, 5, 3)),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=3, interpolation="bilinear", data_format="channels_first"), (1, 2, 3, 5)),
    ("UpSampling2D", dict(size=(1, 2), interpolation="nearest"), (2, 3, 4, 2)),
]


def _keras():
    return pytest.importorskip("keras")


@pytest.mark.parametrize("name, args, shape", KERAS_ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(KERAS_ROWS)])
def test_layer_forward_and_backward_match_keras(name, args, shape):
    keras = _keras()
    torch = pytest.importorskip("torch")
    import shendu as sd

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    theirs, ours = getattr(keras.layers, name)(**args), getattr(layers, name)(**args)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    ours(x)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    xs = sd.tensor(x, requires_grad=True)
    y = ours(xs)
    assert y.shape == tuple(yt.shape)
    assert_close(y, yt.detach().numpy(), atol=2e-5, rtol=2e-5, name=f"{name} forward")
    gy = rng.standard_normal(y.shape).astype("float32")
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    assert_close(xs.grad, xt.grad.numpy(), atol=2e-5, rtol=2e-5, name=f"{name} input gradient")
    for mine, keras_weight in zip(ours.trainable_weights, theirs.trainable_weights):
        assert_close(mine.grad, keras_weight.value.grad.numpy(), atol=5e-5, rtol=2e-5,
                     name=f"{name} gradient of {mine.name}")
    assert ours.count_params() == theirs.count_params()
    if name == "UpSampling2D":      # its output shapes are checked with the reshaping layers
        return
    for known in (shape, (None,) + shape[1:], (None,) * (len(shape) - 1) + shape[-1:]):
        if args.get("data_format") == "channels_first":
            known = (None, shape[1]) + (None,) * (len(shape) - 2)
        assert tuple(ours.compute_output_shape(known)) == tuple(theirs.compute_output_shape(known)), known


CONFIG_ROWS = [("Conv3D", dict(filters=2, kernel_size=3)), ("Conv1DTranspose", dict(filters=2, kernel_size=3)),
               ("Conv3DTranspose", dict(filters=2, kernel_size=3, output_padding=(0, 1, 0), strides=2)),
               ("DepthwiseConv2D", dict(kernel_size=3)), ("DepthwiseConv1D", dict(kernel_size=3)),
               ("SeparableConv2D", dict(filters=2, kernel_size=3)), ("SeparableConv1D", dict(filters=2, kernel_size=3)),
               ("MaxPooling3D", {}), ("AveragePooling3D", dict(pool_size=2)), ("GlobalAveragePooling3D", {}),
               ("GlobalMaxPooling3D", {}), ("Conv2D", dict(filters=4, kernel_size=3, groups=2)),
               ("UpSampling2D", dict(interpolation="lanczos3"))]


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(i) for i in v]
    if isinstance(v, dict):
        return {k: _plain(i) for k, i in v.items() if k not in ("module", "registered_name")}
    return v


@pytest.mark.parametrize("name, args", CONFIG_ROWS, ids=[r[0] + "-" + str(i) for i, r in enumerate(CONFIG_ROWS)])
def test_new_layer_configs_match_keras_and_round_trip(name, args):
    keras = _keras()
    theirs = _plain(getattr(keras.layers, name)(**args).get_config())
    layer = getattr(layers, name)(**args)
    ours = _plain(layer.get_config())
    assert set(ours) == set(theirs), f"{name}: keys {sorted(set(ours) ^ set(theirs))} differ"
    for key in set(ours) - {"name"}:
        assert ours[key] == theirs[key], f"{name}.{key}: {ours[key]!r} != {theirs[key]!r}"
    assert _plain(type(layer).from_config(layer.get_config()).get_config()) == ours


def test_functional_model_with_the_new_layers_infers_shapes():
    from shendu import keras as sk
    inputs = sk.Input((6, 8, 8, 2))
    x = sk.layers.Conv3D(4, 3, padding="same", groups=2)(inputs)
    x = sk.layers.MaxPooling3D()(x)
    x = sk.layers.Conv3DTranspose(2, 2, strides=2)(x)
    x = sk.layers.GlobalAveragePooling3D()(x)
    model = sk.Model(inputs, x)
    assert model.output_shape == (None, 2)
    assert model.predict(np.zeros((3, 6, 8, 8, 2), "float32"), verbose=0).shape == (3, 2)


# ---------------------------------------------------------------- teaching errors

def test_grouped_conv_layers_explain_bad_groups():
    with pytest.raises(ValueError, match="groups must be a positive int that divides filters=4"):
        layers.Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="groups=2 must divide the input's 3 channels"):
        layers.Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(TypeError, match="groups"):
        layers.Conv1DTranspose(2, 3, groups=2)
    with pytest.raises(TypeError, match="groups"):
        layers.Conv2DTranspose(2, 3, groups=2)


def test_new_layers_explain_wrong_ranks_and_arguments():
    with pytest.raises(ValueError, match=r"rank 5 \(batch, depth, height, width, channels\)"):
        layers.Conv3D(2, 3)(np.zeros((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match="rank 4"):
        layers.DepthwiseConv2D(3)(np.zeros((1, 5, 3), "float32"))
    with pytest.raises(ValueError, match="depth_multiplier"):
        layers.SeparableConv2D(2, 3, depth_multiplier=0)
    with pytest.raises(ValueError, match="padding"):
        layers.DepthwiseConv2D(3, padding="causal")
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv3DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        layers.UpSampling2D(interpolation="area")


def test_depthwise_kernel_is_reachable_by_both_names():
    layer = layers.DepthwiseConv2D(3)
    layer(np.zeros((1, 5, 5, 2), "float32"))
    assert layer.depthwise_kernel is layer.kernel and layer.kernel.shape == (3, 3, 2, 1)


def test_model_with_the_new_layers_saves_and_loads(tmp_path):
    pytest.importorskip("h5py")
    from shendu import keras as sk
    inputs = sk.Input((8, 8, 3))
    x = sk.layers.SeparableConv2D(4, 3, padding="same", depth_multiplier=2)(inputs)
    x = sk.layers.DepthwiseConv2D(3, strides=2)(x)
    x = sk.layers.Conv2D(4, 1, groups=2)(x)
    x = sk.layers.UpSampling2D(interpolation="bicubic")(x)
    y = sk.layers.Conv1DTranspose(3, 2, strides=2)(sk.layers.Reshape((36, 4))(x))
    model = sk.Model(inputs, y)
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = sk.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-6)


def test_strides_and_dilation_together_are_refused_as_in_keras():
    with pytest.raises(ValueError, match=r"strides=\(2, 2, 2\) and dilation_rate=\(2, 1, 1\)"):
        layers.Conv3D(2, 3, strides=2, dilation_rate=(2, 1, 1))


def test_keras_loads_a_shendu_model_with_the_new_layers(tmp_path):
    keras = _keras()
    from shendu import keras as sk
    inputs = sk.Input((8, 8, 3))
    x = sk.layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2)(inputs)
    x = sk.layers.UpSampling2D(interpolation="bilinear")(x)
    x = sk.layers.Reshape((6, 6, 1, 6))(x)
    x = sk.layers.Conv3D(4, (2, 2, 1), padding="same", groups=2)(x)
    x = sk.layers.AveragePooling3D((2, 2, 1))(x)
    x = sk.layers.Conv3DTranspose(2, 2, strides=(2, 2, 1))(x)
    model = sk.Model(inputs, sk.layers.GlobalMaxPooling3D()(x))
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    path = str(tmp_path / "model.keras")
    model.save(path)
    theirs = keras.models.load_model(path)
    np.testing.assert_allclose(theirs.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
def test_upsampling2d_keeps_integer_images_integer_as_keras(interpolation):
    keras = _keras()
    x = np.arange(24).reshape(2, 2, 2, 3)
    theirs = keras.ops.convert_to_numpy(keras.layers.UpSampling2D((2, 2), interpolation=interpolation)(x))
    ours = layers.UpSampling2D((2, 2), interpolation=interpolation)(x).numpy()
    assert ours.dtype == theirs.dtype
    if interpolation != "bicubic":       # Keras's torch backend uses PyTorch's bicubic (a = -0.75), not TensorFlow's
        np.testing.assert_array_equal(ours, theirs)


def _anomaly_autoencoder(lib, steps):
    """keras-io examples/timeseries/timeseries_anomaly_detection.py: the Conv1D / Conv1DTranspose autoencoder."""
    layers_ = lib.layers
    return lib.Sequential([
        layers_.Input(shape=(steps, 1)),
        layers_.Conv1D(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers_.Dropout(rate=0.2),
        layers_.Conv1D(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers_.Conv1DTranspose(filters=16, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers_.Dropout(rate=0.2),
        layers_.Conv1DTranspose(filters=32, kernel_size=7, padding="same", strides=2, activation="relu"),
        layers_.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
    ])


def _sine_windows():
    wave = np.sin(np.linspace(0, 40, 700)).astype("float32")
    return np.stack([wave[i:i + 288] for i in range(0, 400, 4)])[..., None]


def test_the_keras_io_conv1d_transpose_autoencoder_matches_keras():
    keras = _keras()
    from shendu import keras as sk
    x = _sine_windows()
    theirs, ours = _anomaly_autoencoder(keras, 288), _anomaly_autoencoder(sk, 288)
    assert ours.count_params() == theirs.count_params() == 9505
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_the_keras_io_conv1d_transpose_autoencoder_learns():
    from shendu import keras as sk
    x = _sine_windows()
    model = _anomaly_autoencoder(sk, 288)
    model.compile(optimizer=sk.optimizers.Adam(learning_rate=0.001), loss="mse")
    history = model.fit(x, x, epochs=8, batch_size=16, validation_split=0.1, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize("make", [layers.SeparableConv2D, layers.SeparableConv1D])
def test_separable_conv_with_relu_runs_it_in_the_pointwise_op_and_equals_relu_after(make):
    """activation='relu' is fused into the pointwise product's op; the values and gradients are ReLU's after
    the linear layer's, weights shared."""
    import shendu

    shape = (2, 7, 6, 3) if make is layers.SeparableConv2D else (2, 9, 3)
    x = np.random.default_rng(0).standard_normal(shape)
    fused, plain = make(4, 3, padding="same", activation="relu"), make(4, 3, padding="same")
    fused.build(shape), plain.build(shape)
    plain.set_weights(fused.get_weights())
    outs = []
    for layer, act in ((fused, lambda y: y), (plain, shendu.ops.relu)):
        t = shendu.tensor(x, requires_grad=True)
        y = act(layer(t))
        (y * y).sum().backward()
        outs.append([y.numpy(), t.grad.numpy()] + [w.grad.numpy() for w in layer.trainable_weights])
    assert (outs[0][0] == 0).any() and (outs[0][0] > 0).any()
    for got, want in zip(*outs):
        assert_close(got, want, atol=1e-6, rtol=1e-6)
