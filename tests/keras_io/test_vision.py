"""keras-io vision programs, run with only the imports changed on a slice of MNIST:

- examples/vision/mnist_convnet.py ("Simple MNIST convnet");
- examples/keras_recipes/subclassing_conv_layers.py ("Customizing the convolution operation of a Conv2D
  layer": Conv.convolution_op overridden, and called from an overridden call; tf.keras 2 code);
- examples/keras_recipes/quasi_svm.py ("A Quasi-SVM in Keras": layers.experimental.RandomFourierFeatures
  under a hinge loss; tf.keras 2 code, since Keras 3 dropped the layer).
"""
import numpy as np
import pytest

import shendu as tf
from shendu import keras as shendu_keras
from shendu.keras import layers


def mnist_convnet(keras, data, epochs):
    """The example's program; ``keras`` is the module its import line names."""
    layers = keras.layers
    num_classes = 10
    input_shape = (28, 28, 1)
    (x_train, y_train), (x_test, y_test) = data
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    return history.history, score


@pytest.mark.slow
def test_mnist_convnet_learns_as_keras_does(mnist, keras3):
    history, (loss, accuracy) = mnist_convnet(shendu_keras, mnist, epochs=3)
    ref_history, (ref_loss, ref_accuracy) = mnist_convnet(keras3, mnist, epochs=3)
    assert set(history) == set(ref_history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history["loss"][-1] < history["loss"][0]
    # dropout draws differ, so the runs agree in range, not digit for digit
    assert accuracy > 0.8 and abs(accuracy - ref_accuracy) < 0.06 and abs(loss - ref_loss) < 0.15


# --------------------------------------------------- examples/keras_recipes/subclassing_conv_layers.py
class StandardizedConv2DWithOverride(layers.Conv2D):
    def convolution_op(self, inputs, kernel):
        mean, var = tf.nn.moments(kernel, axes=[0, 1, 2], keepdims=True)
        return tf.nn.conv2d(
            inputs,
            (kernel - mean) / tf.sqrt(var + 1e-10),
            padding="VALID",
            strides=list(self.strides),
            name=self.__class__.__name__,
        )


class StandardizedConv2DWithCall(layers.Conv2D):
    def call(self, inputs):
        mean, var = tf.nn.moments(self.kernel, axes=[0, 1, 2], keepdims=True)
        result = self.convolution_op(
            inputs, (self.kernel - mean) / tf.sqrt(var + 1e-10)
        )
        if self.use_bias:
            result = result + self.bias
        return result


def keras3_standardized_conv(keras):
    """The same layer written for Keras 3 (keras.ops): the reference for the values."""
    ops = keras.ops

    class StandardizedConv2D(keras.layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10), padding="valid",
                            strides=list(self.strides))
    return StandardizedConv2D


def _standardized_model(keras, with_call, with_override):
    return keras.Sequential([
        keras.layers.InputLayer(input_shape=(28, 28, 1)) if keras is shendu_keras else keras.Input((28, 28, 1)),
        with_call(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        with_override(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def test_convolution_op_override_matches_keras(mnist, keras3):
    """Forward and gradients of the example's model equal Keras 3's with the same weights: the override
    gets the raw kernel, call() adds the bias and the activation; the call-override skips the activation."""
    import torch
    model = _standardized_model(shendu_keras, StandardizedConv2DWithCall, StandardizedConv2DWithOverride)
    Ref = keras3_standardized_conv(keras3)

    class RefWithCall(keras3.layers.Conv2D):
        def call(self, inputs):
            mean, var = keras3.ops.moments(self.kernel, axes=[0, 1, 2], keepdims=True)
            result = self.convolution_op(inputs, (self.kernel - mean) / keras3.ops.sqrt(var + 1e-10))
            return result + self.bias if self.use_bias else result

    reference = _standardized_model(keras3, RefWithCall, Ref)
    rng = np.random.default_rng(0)
    reference.set_weights([w + rng.normal(0, 0.05, w.shape).astype("float32") for w in reference.get_weights()])
    model.set_weights(reference.get_weights())
    x = (mnist[0][0][:16, :, :, None] / 255).astype("float32")
    y = keras3.utils.to_categorical(mnist[0][1][:16], 10)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-4, atol=1e-5)

    loss_fn = shendu_keras.losses.CategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    grads = tape.gradient(loss, model.trainable_weights)
    xt = torch.tensor(x)
    ref_loss = keras3.losses.CategoricalCrossentropy()(torch.tensor(y), reference(xt, training=False))
    ref_grads = torch.autograd.grad(ref_loss, [w.value for w in reference.trainable_weights])
    np.testing.assert_allclose(float(loss), ref_loss.item(), rtol=1e-5)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(np.asarray(g), r.numpy(), rtol=2e-3, atol=2e-6)


@pytest.mark.slow
def test_subclassing_conv_layers_program_trains(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)[:1000]
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = shendu_keras.utils.to_categorical(y_train[:1000], 10)
    y_test = shendu_keras.utils.to_categorical(y_test, 10)
    model = _standardized_model(shendu_keras, StandardizedConv2DWithCall, StandardizedConv2DWithOverride)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=2, validation_split=0.1, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.3      # chance is 0.1


# ------------------------------------------------------------------- examples/keras_recipes/quasi_svm.py
def test_quasi_svm_trains_a_hinge_model_on_random_fourier_features(mnist):
    from shendu.keras.layers.experimental import RandomFourierFeatures
    keras = shendu_keras
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            RandomFourierFeatures(
                output_dim=4096, scale=10.0, kernel_initializer="gaussian"
            ),
            layers.Dense(units=10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.hinge,
        metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
    )
    (x_train, y_train), (x_test, y_test) = mnist
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train)
    y_test = keras.utils.to_categorical(y_test)
    history = model.fit(x_train, y_train, epochs=3, batch_size=128, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.3      # chance is 0.15
    # only the Dense layer learns: the random features (and their scale) stay frozen
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 3
