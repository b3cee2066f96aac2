"""model.summary(): the table tf.keras prints, with the same parameter counts as Keras 3."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import shendu.keras as sk  # noqa: E402


def _cnn(k):
    return k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(32, 3, activation="relu"), k.layers.MaxPooling2D(2),
                         k.layers.Conv2D(64, 3, activation="relu"), k.layers.MaxPooling2D(2), k.layers.Flatten(),
                         k.layers.Dense(128, activation="relu"), k.layers.BatchNormalization(),
                         k.layers.Dense(10, activation="softmax")])


def _text(k):
    return k.Sequential([k.Input((40,), dtype="int32"), k.layers.Embedding(1000, 16),
                         k.layers.Bidirectional(k.layers.LSTM(8)), k.layers.Dense(2, activation="softmax")])


@pytest.mark.parametrize("build", [_cnn, _text], ids=["cnn", "text"])
def test_summary_counts_match_keras(build):
    ours, theirs = build(sk), build(keras)
    lines = []
    ours.summary(print_fn=lines.append)
    table = "\n".join(lines)
    total = theirs.count_params()
    trainable = sum(int(w.numpy().size) for w in theirs.trainable_weights)
    assert f"Total params: {total:,}" in table
    assert f"Trainable params: {trainable:,}" in table
    assert f"Non-trainable params: {total - trainable:,}" in table
    for ours_layer, their_layer in zip(ours.layers, theirs.layers):
        assert ours_layer.count_params() == their_layer.count_params()
        assert f"({type(ours_layer).__name__})" in table
        assert str(tuple(their_layer.output.shape)) in table
