"""keras-io examples/generative/vae.py (tf.keras 2 code: tf.GradientTape in an overridden train_step,
tf.keras.backend.random_normal in the Sampling layer, metric trackers listed by a ``metrics``
property), run with only the imports changed on 1000 MNIST digits for two epochs. The reference is the
same model in Keras 3 on torch (its train_step written with torch autograd, as in the guide on custom
train steps in torch), from the same weights; the sampling noise differs, so the losses agree in range."""
import numpy as np
import pytest

import shendu as tf
from shendu import keras
from shendu.keras import layers


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.keras.backend.random_normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super(VAE, self).__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.kl_loss_tracker,
        ]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = tf.reduce_mean(
                tf.reduce_sum(
                    keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)
                )
            )
            kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }

    def call(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        return self.decoder(z)


def vae_parts(keras, layers, Sampling):
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
    return encoder, decoder


def keras3_vae(keras3):
    import torch
    ops = keras3.ops

    class RefSampling(keras3.layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            epsilon = keras3.random.normal(shape=ops.shape(z_mean))
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class RefVAE(keras3.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.trackers = [keras3.metrics.Mean(name=n) for n in ("total_loss", "reconstruction_loss", "kl_loss")]

        @property
        def metrics(self):
            return self.trackers

        def train_step(self, data):
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(ops.sum(keras3.losses.binary_crossentropy(data, reconstruction),
                                                   axis=(1, 2)))
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
            self.zero_grad()
            total_loss.backward()
            grads = [v.value.grad for v in self.trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(grads, self.trainable_weights)
            for tracker, value in zip(self.trackers, (total_loss, reconstruction_loss, kl_loss)):
                tracker.update_state(value.detach())
            return {"loss": self.trackers[0].result(), "reconstruction_loss": self.trackers[1].result(),
                    "kl_loss": self.trackers[2].result()}

        def call(self, x):
            return self.decoder(self.encoder(x)[2])

    encoder, decoder = vae_parts(keras3, keras3.layers, RefSampling)
    return RefVAE(encoder, decoder)


@pytest.mark.slow
def test_vae_overriding_train_step_with_gradient_tape_learns(mnist, keras3):
    encoder, decoder = vae_parts(keras, layers, Sampling)
    reference = keras3_vae(keras3)
    encoder.set_weights(reference.encoder.get_weights())
    decoder.set_weights(reference.decoder.get_weights())

    (x_train, _), (x_test, _) = mnist
    mnist_digits = np.concatenate([x_train[:800], x_test[:200]], axis=0)
    mnist_digits = np.expand_dims(mnist_digits, -1).astype("float32") / 255

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    history = vae.fit(mnist_digits, epochs=2, batch_size=128, verbose=0).history
    reference.compile(optimizer=keras3.optimizers.Adam())
    ref_history = reference.fit(mnist_digits, epochs=2, batch_size=128, verbose=0).history
    assert set(history) == set(ref_history) == {"loss", "reconstruction_loss", "kl_loss"}
    # an untrained decoder outputs ~0.5 everywhere: 784 · ln 2 ≈ 543 per digit
    assert history["loss"][0] < 543 and history["loss"][1] < history["loss"][0] and history["kl_loss"][1] >= 0
    np.testing.assert_allclose(history["reconstruction_loss"], ref_history["reconstruction_loss"], rtol=0.05)
    np.testing.assert_allclose(np.array(history["loss"]),
                               np.array(history["reconstruction_loss"]) + np.array(history["kl_loss"]), rtol=1e-5)
    z_mean, _, _ = vae.encoder.predict(mnist_digits[:16], verbose=0)
    x_decoded = vae.decoder.predict(np.array([[0.0, 0.0]]), verbose=0)
    assert z_mean.shape == (16, 2) and x_decoded.shape == (1, 28, 28, 1)
