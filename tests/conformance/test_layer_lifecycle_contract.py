"""The layer life cycle as Keras 3 states it: when a layer counts as built, which layers hold a random
generator, what ``from_config`` raises, how ``axis`` and ``target_shape`` are checked, and which
crossentropy ``compile(loss='crossentropy')`` stands for. Each point is checked against Keras itself."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
import shendu.keras as sk
from shendu.random import SeedGenerator

L = sk.layers


@pytest.mark.parametrize("name, args", [("ReLU", ()), ("Softmax", ()), ("Dropout", (0.5,)),
                                        ("MaxPooling2D", ()), ("GlobalAveragePooling1D", ()), ("Masking", ())])
def test_stateless_layer_is_built_unless_a_subclass_brings_its_own_build(keras, name, args):
    assert getattr(L, name)(*args).built is getattr(keras.layers, name)(*args).built is True
    calls = []

    class WithBuild(getattr(L, name)):
        def build(self, input_shape):
            calls.append(tuple(input_shape))

    layer = WithBuild(*args)
    assert layer.built is False          # left to the subclass's build, which must still run
    layer(np.ones((2, 4, 4, 3), np.float32) if "2D" in name else np.ones((2, 4, 3), np.float32))
    assert layer.built and len(calls) == 1


@pytest.mark.parametrize("make", [lambda lib: lib.layers.Dropout(0.5), lambda lib: lib.layers.Dropout(0.0),
                                  lambda lib: lib.layers.GaussianNoise(0.1),
                                  lambda lib: lib.layers.GaussianDropout(0.3),
                                  lambda lib: lib.layers.Attention(dropout=0.2), lambda lib: lib.layers.Attention()],
                         ids=["dropout", "dropout0", "noise", "gdropout", "attention-dropout", "attention"])
def test_layers_that_draw_hold_one_seed_generator(keras, make):
    ours, theirs = make(sk), make(keras)
    has = getattr(theirs, "seed_generator", None) is not None
    assert (getattr(ours, "seed_generator", None) is not None) == has
    if has:
        assert isinstance(ours.seed_generator, SeedGenerator)


def test_seeded_dropout_repeats_and_unseeded_follows_set_seed():
    x = np.ones((4, 50), np.float32)
    a = L.Dropout(0.5, seed=7)(x, training=True).numpy()
    np.testing.assert_array_equal(a, L.Dropout(0.5, seed=7)(x, training=True).numpy())
    layer = L.GaussianNoise(1.0)
    sd.set_seed(3)
    first = layer(x, training=True).numpy()
    sd.set_seed(3)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), first)
    sd.set_seed(3)
    g = SeedGenerator()
    draw = g.generator.random(5)
    sd.set_seed(3)
    np.testing.assert_array_equal(SeedGenerator().generator.random(5), draw)


@pytest.mark.parametrize("name", ["SimpleRNN", "GRU", "LSTM"])
def test_rnn_supports_masking_as_released_keras_and_passes_masks_on(keras, name):
    assert getattr(L, name)(3).supports_masking is getattr(keras.layers, name)(3).supports_masking is True
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    inp = sk.Input((4,))
    e = L.Embedding(4, 2, mask_zero=True)(inp)
    seq = getattr(L, name)(3, return_sequences=True)(e)
    last = getattr(L, name)(3)(seq)
    model = sk.Model(inp, [seq, last])
    out_seq, out_last = model.predict(ids, verbose=0)
    np.testing.assert_allclose(out_seq[0, 2], out_seq[0, 1])       # a masked step repeats the last output
    layer = getattr(L, name)(3, return_sequences=True)
    mask = np.array([[True, True, False, False]])
    assert layer.compute_mask(np.ones((1, 4, 2), np.float32), mask) is not None


def test_from_config_refusal_is_a_type_error_naming_the_class(keras):
    with pytest.raises(TypeError, match="Embedding.*input_dim.*3.7"):
        L.Embedding.from_config({"input_dim": 3.7, "output_dim": 8})
    with pytest.raises(TypeError):
        keras.layers.Embedding.from_config({"input_dim": 3.7, "output_dim": 8})
    with pytest.raises(ValueError, match="input_dim"):          # the constructor itself keeps its ValueError
        L.Embedding(input_dim=3.7, output_dim=8)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout_3d_drops_whole_volumes(keras, data_format):
    layer = L.SpatialDropout3D(0.5, data_format=data_format, seed=1)
    x = np.ones((4, 3, 3, 3, 3), np.float32) + np.arange(3, dtype=np.float32)
    y = layer(x, training=True).numpy()
    channel_axis = -1 if data_format == "channels_last" else 1
    per_channel = np.moveaxis(y, channel_axis, 1).reshape(4, 3, -1)
    kept = np.moveaxis(x, channel_axis, 1).reshape(4, 3, -1) * 2.0
    for b in range(4):
        for c in range(3):                                  # each volume entirely dropped or entirely kept
            assert np.all(per_channel[b, c] == 0) or np.allclose(per_channel[b, c], kept[b, c])
    np.testing.assert_array_equal(layer(x).numpy(), x)       # identity at inference
    config = layer.get_config()
    assert set(config) == set(keras.layers.SpatialDropout3D(0.5, data_format=data_format).get_config())
    assert L.SpatialDropout3D.from_config(config).get_config() == config
    with pytest.raises(ValueError):
        layer(np.ones((2, 3, 3, 3), np.float32))


def test_layer_normalization_canonicalizes_axis_and_checks_it_in_shape_inference(keras):
    # once built, axis names the input's own axes, sorted (tf.keras 2 and current Keras; Keras 3.15.1 kept -1)
    ours = L.LayerNormalization(axis=[-1, -2])
    ours.build((2, 3, 4))
    assert ours.axis == [1, 2] and ours.get_config()["axis"] == [1, 2]
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    want = keras.ops.convert_to_numpy(keras.layers.LayerNormalization(axis=[-1, -2])(x))
    np.testing.assert_allclose(ours(x).numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(L.LayerNormalization.from_config(ours.get_config())(x).numpy(), want,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="out of bounds"):
        L.LayerNormalization(axis=3).compute_output_shape((2, 4))
    assert L.LayerNormalization(axis=[-2, -1]).compute_output_shape((2, 3, 4)) == (2, 3, 4)


def test_layer_normalization_trains_on_an_empty_batch():
    """No group to average over: the gradients are empty for x and zero for gamma and beta, not 0/0."""
    layer = L.LayerNormalization()
    x = sd.tensor(np.zeros((1, 0, 10), np.float32), requires_grad=True)
    layer(x).sum().backward()
    assert x.grad.shape == (1, 0, 10)
    np.testing.assert_array_equal(layer.gamma.grad.numpy(), np.zeros(10, np.float32))
    np.testing.assert_array_equal(layer.beta.grad.numpy(), np.zeros(10, np.float32))


@pytest.mark.parametrize("target", [(-2, 5), (-1, -1, 5), (2.5, 2)], ids=str)
def test_reshape_refuses_an_impossible_target_shape_at_construction(keras, target):
    with pytest.raises(ValueError, match=r"target_shape=\(" + ", ".join(str(d) for d in target).replace(".", r"\.")):
        L.Reshape(target)
    if all(isinstance(d, int) for d in target):         # Keras lets a float through to the first call
        with pytest.raises(ValueError):
            keras.layers.Reshape(target)


@pytest.mark.parametrize("units, labels", [(1, lambda r: r.integers(0, 2, (6, 1))),
                                           (3, lambda r: r.integers(0, 3, (6,))),
                                           (3, lambda r: np.eye(3)[r.integers(0, 3, 6)])],
                         ids=["binary", "sparse", "categorical"])
def test_compile_crossentropy_picks_the_loss_from_the_shapes(keras, units, labels):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = labels(rng).astype(np.float32)
    kernel = rng.normal(size=(4, units)).astype(np.float32) * 0.3
    activation = "sigmoid" if units == 1 else "softmax"
    losses = []
    for lib in (sk, keras):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(units, activation=activation)])
        model.layers[0].set_weights([kernel, np.zeros(units, np.float32)])
        model.compile("sgd", loss="crossentropy")
        losses.append(model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
