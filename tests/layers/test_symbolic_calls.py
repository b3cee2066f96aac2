"""shendu/layers/symbolic_calls.py: keras.ops and TensorFlow functions written directly on keras.Input
tensors become graph nodes, and the model computes the same values as the functions on real arrays."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as tf
from shendu.keras import ops
from shendu.tf_api.symbolic import accept_symbolic
from shendu.saving.config import serialize_layer

keras = tf.keras


def test_functional_model_built_from_ops_and_tf_functions_matches_eager_values():
    a, b = keras.Input((3,)), keras.Input((2,))
    joined = ops.concatenate([a, b], axis=1)
    pooled = tf.reduce_mean(joined, axis=1, keepdims=True)
    scaled = ops.nn.relu(tf.nn.sigmoid(tf.math.square(pooled)) - 0.55)
    summed = ops.numpy.sum(ops.expand_dims(a, -1), axis=(1, 2))
    assert ops.shape(joined) == (None, 5) and ops.ndim(joined) == 2 and ops.dtype(joined) == "float32"
    model = keras.Model([a, b], [scaled, summed])
    x1 = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    x2 = np.random.default_rng(1).normal(size=(4, 2)).astype("float32")
    got_scaled, got_sum = model.predict([x1, x2], verbose=0)
    mean = np.concatenate([x1, x2], 1).mean(1, keepdims=True)
    np.testing.assert_allclose(got_scaled, np.maximum(1 / (1 + np.exp(-mean ** 2)) - 0.55, 0), rtol=1e-5)
    np.testing.assert_allclose(got_sum, x1.sum(1), rtol=1e-5)


def test_a_model_with_ops_on_symbolic_tensors_trains():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8)(inputs)
    outputs = keras.layers.Dense(1)(ops.tanh(hidden) + tf.nn.relu(hidden))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_accept_symbolic_keeps_the_function_on_real_values():
    calls = []

    def f(x, scale=1.0):
        calls.append(scale)
        return x * scale
    wrapped = accept_symbolic(f)
    assert wrapped.__wrapped__ is f and wrapped.__name__ == "f"
    np.testing.assert_array_equal(wrapped(np.ones(2), scale=3.0), [3.0, 3.0])
    node = wrapped(keras.Input((2,)), scale=2.0)
    assert node.shape == (None, 2) and calls[-1] == 2.0


def test_saving_a_model_with_symbolic_ops_explains_what_to_use():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, ops.exp(inputs))
    with pytest.raises(ValueError, match="layers.Lambda"):
        serialize_layer(model.layers[1])
