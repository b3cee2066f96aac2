"""shendu/layers/core.py: Dense, Activation, Dropout, Flatten, Reshape and the activation layers,
each through the layer contract (tests/helpers.py), plus the rules the contract cannot see."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import distinct, layer_contract, signed

import shendu as sd
from shendu import layers


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- Dense

@pytest.mark.parametrize("input_shape,units", [((4, 3), 5), ((2, 3, 4), 2), ((1, 6), 1)],
                         ids=["2d", "3d", "batch1"])
def test_dense_contract(input_shape, units):
    layer_contract(partial(layers.Dense, units, activation="tanh", bias_initializer="glorot_uniform"),
                   input_shape, input_shape[:-1] + (units,), [(input_shape[-1], units), (units,)],
                   reference=lambda x, W, b: np.tanh(x @ W + b))


def test_dense_without_bias_contract():
    layer_contract(partial(layers.Dense, 3, use_bias=False), (4, 2), (4, 3), [(2, 3)],
                   reference=lambda x, W: x @ W)


def test_frozen_dense_contract():
    def frozen(dtype):
        layer = layers.Dense(3, dtype=dtype)
        layer.trainable = False
        return layer
    layer = layer_contract(frozen, (4, 2), (4, 3), [(2, 3), (3,)], non_trainable=2)
    assert layer.trainable_weights == [] and layer.get_config()["trainable"] is False


def test_dense_regularizers_survive_the_config_round_trip():
    layer = layer_contract(partial(layers.Dense, 3, kernel_regularizer="l1", activity_regularizer="l2"),
                           (4, 2), (4, 3), [(2, 3), (3,)])
    config = layer.get_config()
    assert config["activity_regularizer"]["class_name"] == "L2"
    clone = layers.Dense.from_config(config)
    clone(np.ones((4, 2), np.float32))
    assert clone.activity_regularizer is not None and len(clone.losses) == 2


def test_dense_rejects_zero_units():
    with pytest.raises(ValueError, match="positive integer"):
        layers.Dense(0)


def test_dense_wrong_feature_count_names_shapes():
    dense = layers.Dense(2)
    dense(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"3 features.*\(1, 4\)"):
        dense(np.zeros((1, 4), np.float32))


# ---------------------------------------------------------------- Activation and activation layers

@pytest.mark.parametrize("name,ref", [("tanh", np.tanh), ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
                                      ("softplus", lambda x: np.log1p(np.exp(x)))])
def test_activation_contract(name, ref):
    layer_contract(partial(layers.Activation, name), (3, 4), (3, 4), [], reference=ref)


def test_leaky_relu_contract():
    layer_contract(partial(layers.LeakyReLU, negative_slope=0.1), (3, 4), (3, 4), [], kinks=(0.0,),
                   reference=lambda x: np.where(x > 0, x, 0.1 * x))


def test_leaky_relu_default_slope_is_keras_3s():
    y = layers.LeakyReLU()(np.array([[-1.0, 2.0]], np.float32)).numpy()
    np.testing.assert_allclose(y, [[-0.3, 2.0]], rtol=1e-6)


def _keras_relu(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras's rule: max_value above it, x strictly above threshold, negative_slope·(x - threshold) at or below."""
    y = np.where(x > threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else np.minimum(y, max_value)


@pytest.mark.parametrize("kwargs,kinks", [
    (dict(), (0.0,)),
    (dict(max_value=1.0), (0.0, 1.0)),
    (dict(negative_slope=0.2), (0.0,)),
    (dict(threshold=0.5), (0.5,)),
    (dict(max_value=1.5, negative_slope=0.1, threshold=0.5), (0.5, 1.5)),
], ids=["plain", "max_value", "negative_slope", "threshold", "all"])
def test_relu_contract(kwargs, kinks):
    layer_contract(partial(layers.ReLU, **kwargs), (4, 5), (4, 5), [], kinks=kinks,
                   reference=lambda x: _keras_relu(x, **kwargs))


def test_relu_threshold_without_slope_zeroes_below():
    x = np.array([[-1.0, 0.2, 0.7, 3.0]], np.float32)
    y = layers.ReLU(threshold=0.5, max_value=2.0)(x).numpy()
    np.testing.assert_allclose(y, [[0.0, 0.0, 0.7, 2.0]], rtol=1e-6)


def test_elu_contract():
    layer_contract(partial(layers.ELU, alpha=0.7), (3, 4), (3, 4), [], kinks=(0.0,),
                   reference=lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)))


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_contract(axis):
    layer_contract(partial(layers.Softmax, axis=axis), (2, 3, 4), (2, 3, 4), [],
                   reference=lambda x: _softmax(x, axis))


def test_softmax_mask_gives_masked_positions_zero():
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    mask = np.array([[True, True, False, True], [False, False, False, False]])
    y = layers.Softmax()(x, mask=mask).numpy()
    expected = _softmax(np.where(mask[0], x[0], -np.inf))
    np.testing.assert_allclose(y[0], expected, atol=1e-6)
    # a fully masked row has no probability to give (Keras 3 returns zeros, not a uniform row)
    np.testing.assert_array_equal(y[1], 0.0)


def test_softmax_mask_gradient_skips_masked_positions():
    x = sd.tensor(np.random.default_rng(1).normal(size=(1, 4)), requires_grad=True)
    mask = np.array([[True, False, True, True]])
    y = layers.Softmax(dtype="float64")(x, mask=mask)
    (y * sd.tensor(np.arange(4.0))).sum().backward()
    assert x.grad.numpy()[0, 1] == 0.0
    assert np.all(x.grad.numpy()[0, [0, 2, 3]] != 0.0)


def test_softmax_mask_that_does_not_broadcast_names_shapes():
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\).*inputs \(2, 3, 4\)"):
        layers.Softmax()(np.zeros((2, 3, 4), np.float32), mask=np.ones((2, 3), bool))


def test_softmax_broadcast_mask():
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    mask = np.array([[[True, False, True, True]], [[False, True, True, False]]])      # (batch, 1, keys)
    y = layers.Softmax()(x, mask=mask).numpy()
    np.testing.assert_allclose(y, _softmax(np.where(mask, x, -np.inf)), atol=1e-6)


# ---------------------------------------------------------------- Dropout

def test_dropout_contract_is_identity_in_inference():
    layer_contract(partial(layers.Dropout, 0.5), (3, 4), (3, 4), [], reference=lambda x: x)


def test_dropout_training_statistics():
    x = np.ones((400, 250), np.float32)
    t = sd.tensor(x, requires_grad=True)
    y = layers.Dropout(0.3, seed=1)(t, training=True)
    values = y.numpy()
    dropped = np.mean(values == 0)
    assert abs(dropped - 0.3) < 0.01                          # 100000 draws: sd of the rate is 0.0015
    np.testing.assert_allclose(values[values != 0], 1 / 0.7, rtol=1e-6)
    assert abs(values.mean() - 1.0) < 0.02                    # inverted dropout keeps the expectation
    y.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), values, rtol=1e-6)   # dy * mask / (1 - rate)


def test_dropout_seed_repeats_and_inference_is_identity():
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    a = layers.Dropout(0.5, seed=3)(x, training=True).numpy()
    b = layers.Dropout(0.5, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(layers.Dropout(0.5)(x, training=False).numpy(), x)
    np.testing.assert_array_equal(layers.Dropout(0.5)(x).numpy(), x)


def test_dropout_noise_shape_shares_the_mask():
    x = np.ones((4, 6, 5), np.float32)
    y = layers.Dropout(0.5, noise_shape=(None, 1, 5), seed=0)(x, training=True).numpy()
    # one mask per (sample, feature), repeated over the 6 time steps
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))
    assert 0 < np.mean(y == 0) < 1


def test_dropout_rejects_rate_one():
    with pytest.raises(ValueError, match=r"argument `rate`.*rate=1.0"):
        layers.Dropout(1.0)


# ---------------------------------------------------------------- Flatten and Reshape

def test_flatten_contract():
    layer_contract(layers.Flatten, (2, 3, 4, 5), (2, 60), [], reference=lambda x: x.reshape(2, -1))


def test_flatten_channels_first_moves_channels_last():
    layer_contract(partial(layers.Flatten, data_format="channels_first"), (2, 3, 4, 5), (2, 60), [],
                   reference=lambda x: np.moveaxis(x, 1, -1).reshape(2, -1))


@pytest.mark.parametrize("target,out", [((6, 2), (2, 6, 2)), ((-1, 3), (2, 4, 3)), ((12,), (2, 12))])
def test_reshape_contract(target, out):
    layer_contract(partial(layers.Reshape, target), (2, 3, 4), out, [], reference=lambda x: x.reshape(out))


def test_reshape_incompatible_size_names_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        layers.Reshape((5, 2))(np.zeros((2, 3, 4), np.float32))


def test_dense_after_max_of_kinks_is_checked_away_from_ties():
    # distinct inputs keep gradcheck away from the kinks of a max: the contract works with any sampler
    layer_contract(partial(layers.Dense, 2, activation="relu", bias_initializer="ones"), (3, 4), (3, 2),
                   [(4, 2), (2,)], domain=distinct(0.1, 1.0))


def test_activation_contract_with_signed_domain():
    layer_contract(partial(layers.Activation, "softsign"), (2, 3), (2, 3), [], domain=signed(0.1, 2.0),
                   reference=lambda x: x / (1 + np.abs(x)))


@pytest.mark.parametrize("layer", [layers.Dense(2), layers.Activation("relu"), layers.Dropout(0.5), layers.ReLU(),
                                   layers.LeakyReLU(), layers.ELU()],
                         ids=lambda layer: type(layer).__name__)
def test_elementwise_layers_pass_the_mask_on(layer):
    t = sd.tensor(np.ones((2, 3, 4), np.float32))
    t._keras_mask = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(layer(t)._keras_mask, t._keras_mask)


# ---------------------------------------------------------------- the contract itself has teeth

class _WrongGradient(sd.Function):
    """y = x * w, but backward forgets the factor w for x."""
    def forward(self, x, w):
        self.save(x, w)
        return x * w

    def backward(self, gy):
        x, w = self.saved
        return gy, (gy * x).sum(axis=0)


class _Scale(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "random_normal")

    def call(self, inputs):
        return _WrongGradient.apply(inputs, self.w)


class _ForgetfulDense(layers.Dense):
    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        return config


def test_contract_catches_a_wrong_gradient():
    with pytest.raises(AssertionError, match="gradcheck failed for input 0"):
        layer_contract(_Scale, (3, 4), (3, 4), [(4,)])


def test_contract_catches_a_lost_config_key():
    with pytest.raises(AssertionError, match="clone output"):
        layer_contract(partial(_ForgetfulDense, 2, activation="tanh"), (3, 4), (3, 2), [(4, 2), (2,)])
