"""Layer semantics where shendu follows Keras 3 to the letter, each checked against Keras itself."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
import shendu.keras as sk

L = sk.layers


@pytest.mark.parametrize("kwargs", [dict(threshold=0.5), dict(threshold=1.0, negative_slope=0.2),
                                    dict(threshold=0.5, negative_slope=0.1, max_value=1.5)], ids=str)
def test_relu_threshold_passes_only_values_above_it(keras, kwargs):
    x = np.array([[-1.0, 0.0, 0.5, 0.75, 1.0, 1.5, 2.0]], np.float32)     # values sitting on each threshold
    want = keras.ops.convert_to_numpy(keras.layers.ReLU(**kwargs)(x))
    np.testing.assert_allclose(L.ReLU(**kwargs)(x).numpy(), want, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d")      # Keras warns that the mask is dropped
def test_global_max_pooling_1d_does_not_support_masking_and_ignores_masks(keras):
    assert L.GlobalMaxPooling1D().supports_masking is keras.layers.GlobalMaxPooling1D().supports_masking is False
    assert L.GlobalAveragePooling1D().supports_masking is True
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    emb = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)

    def run(lib):
        inp = lib.Input((4,))
        e = lib.layers.Embedding(5, 2, mask_zero=True, embeddings_initializer=lib.initializers.Constant(emb))(inp)
        return lib.Model(inp, lib.layers.GlobalMaxPooling1D()(e)).predict(ids, verbose=0)
    np.testing.assert_allclose(run(sk), run(keras), rtol=1e-6)


def test_dense_activation_can_be_set_to_none_later():
    layer = L.Dense(2, use_bias=False, activation="relu")
    layer.build((1, 2))
    layer.set_weights([np.array([[1.0, -2.0], [3.0, -4.0]])])
    layer.activation = None
    np.testing.assert_allclose(layer(np.array([[-1.0, 2.0]], np.float32)).numpy(), [[5.0, -6.0]])
    assert layer.get_config()["activation"] == "linear"


def test_attention_returns_the_weights_it_applied(keras):
    q = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    v = np.array([[[1.0, 2.0], [3.0, 4.0]]], np.float32)
    out, scores = L.Attention(dropout=0.5, seed=1)([q, v], return_attention_scores=True, training=True)
    np.testing.assert_allclose(out.numpy(), scores.numpy() @ v, rtol=1e-6)       # the returned weights made out
    plain = L.Attention()([q, v], return_attention_scores=True)[1].numpy()
    kept = scores.numpy() != 0
    np.testing.assert_allclose(scores.numpy()[kept], plain[kept] * 2.0, rtol=1e-6)   # kept ones scaled 1/(1-rate)
    k_out, k_scores = keras.layers.Attention(dropout=0.5, seed=1)([q, v], return_attention_scores=True,
                                                                  training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k_out), keras.ops.convert_to_numpy(k_scores) @ v,
                               rtol=1e-6)   # Keras 3 does the same


@pytest.mark.parametrize("shape", [(3, 0), (2, 0, 4), (0, 5)])
def test_layer_normalization_on_a_size_0_axis(keras, shape, recwarn):
    x = np.zeros(shape, np.float32)
    out = L.LayerNormalization()(x).numpy()
    assert out.shape == tuple(keras.layers.LayerNormalization()(x).shape)
    assert not [w for w in recwarn.list if issubclass(w.category, RuntimeWarning)]


def test_sequential_built_from_a_batch_accepts_other_lengths():
    model = sk.Sequential([L.Flatten()])
    assert model.predict(np.ones((3, 5, 7), np.float32), verbose=0).shape == (3, 35)
    assert model.predict(np.ones((2, 7, 5), np.float32), verbose=0).shape == (2, 35)
    reshape = sk.Sequential([L.Reshape((-1, 8))])
    reshape.compile("sgd", "mse")

    def batches():
        yield np.ones((1, 12, 2), np.float32), np.zeros((1, 3, 8), np.float32)
        yield np.ones((1, 20, 2), np.float32), np.zeros((1, 5, 8), np.float32)
    reshape.fit(batches(), steps_per_epoch=2, epochs=1, verbose=0)
    assert reshape(np.ones((1, 24, 2), np.float32)).shape == (1, 6, 8)


def test_sequential_with_a_declared_shape_still_checks_it():
    model = sk.Sequential([sk.Input((4, 2)), L.Flatten()])
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4, 2\)"):
        model(np.ones((1, 5, 2), np.float32))


@pytest.mark.parametrize("clipping", [None, {"rmax": 1.5, "rmin": 0.5, "dmax": 0.3}], ids=["free", "clipped"])
def test_batch_renormalization_matches_keras(keras, clipping):
    rng = np.random.default_rng(0)
    kwargs = dict(renorm=True, renorm_clipping=clipping, renorm_momentum=0.9, momentum=0.8)
    theirs, ours = keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs)
    theirs.build((None, 5))
    ours.build((None, 5))
    for x in (rng.normal(2, 3, size=(8, 5)).astype(np.float32) for _ in range(3)):
        np.testing.assert_allclose(ours(x, training=True).numpy(),
                                   keras.ops.convert_to_numpy(theirs(x, training=True)), rtol=1e-5, atol=1e-5)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(a.numpy(), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(x).numpy(), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)
    config = ours.get_config()
    assert config["renorm"] is True and config["renorm_clipping"] == (clipping or {})
    assert L.BatchNormalization.from_config(config).get_config() == config


def test_batch_renormalization_gradients_match_keras(keras):
    """r and d are constants for backpropagation (Keras stops their gradient); checked against Keras's torch
    backend: the gradients of the inputs, gamma and beta after a few batches moved the renorm statistics."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    kwargs = dict(renorm=True, renorm_clipping={"rmax": 1.2, "rmin": 0.8, "dmax": 0.2}, renorm_momentum=0.5)
    theirs, ours = keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs)
    batches = [rng.normal(1, 2, size=(6, 3)).astype(np.float32) for _ in range(3)]
    for x in batches[:2]:
        theirs(x, training=True)
        ours(x, training=True)
    v = rng.normal(size=(6, 3)).astype(np.float32)
    xt = torch.tensor(batches[2], requires_grad=True)
    (theirs(xt, training=True) * torch.tensor(v)).sum().backward()
    xs = sd.tensor(batches[2], requires_grad=True)
    (ours(xs, training=True) * v).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.gamma.grad.numpy(), theirs.gamma.value.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.beta.grad.numpy(), theirs.beta.value.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_batch_normalization_renorm_round_trips_through_a_keras_config(keras):
    from shendu.saving import deserialize_keras_object
    config = keras.saving.serialize_keras_object(keras.layers.BatchNormalization(renorm=True, renorm_momentum=0.5))
    layer = deserialize_keras_object(config)
    assert layer.renorm is True and layer.renorm_momentum == 0.5
