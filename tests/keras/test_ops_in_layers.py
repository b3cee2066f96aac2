"""keras.ops, keras.random and TensorFlow's names inside the custom layers of the Keras guides and examples
(the VAE's Sampling layer, the Transformer's TokenAndPositionEmbedding, a layer written with tf.reduce_mean),
trained through fit."""
from __future__ import annotations

import numpy as np

import shendu as tf
from shendu import keras
from shendu.keras import layers, ops


class Sampling(layers.Layer):
    """keras-io examples/generative/vae.py: z = mean + exp(log_var / 2) * eps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class TokenAndPositionEmbedding(layers.Layer):
    """keras-io examples/nlp/text_classification_with_transformer.py."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        return self.token_emb(x) + self.pos_emb(positions)


class CenteredDense(layers.Layer):
    """A tf.keras 2 custom layer: tf.Variable weights and tf.reduce_mean in call."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        values = tf.random.normal((input_shape[-1], self.units), stddev=0.5, seed=0)
        self.w = tf.Variable(values, trainable=True)
        self.b = tf.Variable(tf.zeros((self.units,)), trainable=True)

    def call(self, inputs):
        centered = inputs - tf.reduce_mean(inputs, axis=-1, keepdims=True)
        return tf.matmul(centered, self.w) + self.b


def test_sampling_layer_draws_around_the_mean_and_passes_gradients():
    z_mean = tf.Variable(np.full((2000, 2), 3.0, np.float32))
    z_log_var = tf.Variable(np.full((2000, 2), np.log(0.25), np.float32))
    with tf.GradientTape() as tape:
        z = Sampling()([z_mean, z_log_var])
        loss = tf.reduce_sum(z)
    assert abs(float(ops.mean(z)) - 3.0) < 0.05 and abs(float(ops.std(z)) - 0.5) < 0.05
    g_mean, g_log_var = tape.gradient(loss, [z_mean, z_log_var])
    np.testing.assert_allclose(g_mean.numpy(), 1.0)
    eps = (z.numpy() - 3.0) / 0.5
    np.testing.assert_allclose(g_log_var.numpy(), 0.5 * 0.5 * eps, rtol=1e-4, atol=1e-6)


def test_transformer_embedding_and_reduce_mean_layers_train_in_a_functional_model():
    inputs = keras.Input(shape=(6,))
    x = TokenAndPositionEmbedding(6, 20, 8)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    x = CenteredDense(4)(x)
    outputs = layers.Dense(2, activation="softmax")(ops.relu(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x_data = rng.integers(0, 20, (128, 6))
    y_data = (x_data.mean(axis=1) >= 9.5).astype("int64")        # visible through the averaged embeddings
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x_data, y_data, epochs=10, batch_size=32, verbose=0)
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert len(model.trainable_weights) == 6     # two embeddings, the layer's tf.Variables, Dense kernel and bias
