"""The tutorial CNN on real digits: the first 8,000 MNIST test images train it, the last 2,000 judge it."""
from __future__ import annotations

import pytest

import shendu.keras as keras
from shendu.data.datasets import load_mnist_test


@pytest.mark.slow
def test_tutorial_cnn_scores_96_percent_on_held_out_digits():
    images, labels = load_mnist_test()
    x = (images.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    x_train, y_train, x_test, y_test = x[:8000], labels[:8000], x[8000:], labels[8000:]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.96, f"test accuracy {accuracy:.4f}"
