"""Functional and Sequential models with unknown (None) axes: they build without running any layer,
keep the unknown axes None in every shape and error message, and train on inputs of different lengths."""
from __future__ import annotations

import numpy as np
import pytest

import shendu.keras as sk
from shendu.keras import layers

RNG = np.random.default_rng(0)


def _ids(batch, length):
    return RNG.integers(1, 20, (batch, length)).astype("int32")


def test_embedding_then_small_kernel_conv_on_unknown_length_builds_and_fits_two_lengths():
    ids = sk.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(20, 8)(ids)
    assert x.shape == (None, None, 8)
    x = layers.Conv1D(4, kernel_size=5, activation="relu")(x)
    assert x.shape == (None, None, 4)
    x = layers.GlobalMaxPooling1D()(x)
    out = layers.Dense(1)(x)
    assert out.shape == (None, 1)
    model = sk.Model(ids, out)
    assert model.output_shape == (None, 1)
    model.compile("adam", "mse")
    for length in (6, 11):
        history = model.fit(_ids(8, length), RNG.standard_normal((8, 1)), epochs=1, batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    assert model.predict(_ids(3, 5), verbose=0).shape == (3, 1)


def _transformer_block(x, heads=2, dim=8):
    attended = layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)(x, x)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    ff = layers.Dense(dim)(layers.Dense(16, activation="relu")(x))
    return layers.LayerNormalization()(layers.Add()([x, ff]))


def test_transformer_block_on_unknown_batch_and_length_builds_and_fits_two_lengths():
    inputs = sk.Input(shape=(None, 8))
    x = _transformer_block(inputs)
    assert x.shape == (None, None, 8)
    out = layers.Dense(1)(layers.GlobalAveragePooling1D()(x))
    model = sk.Model(inputs, out)
    model.compile("adam", "mse")
    for length in (3, 7):
        history = model.fit(RNG.standard_normal((4, length, 8)).astype("float32"), RNG.standard_normal((4, 1)),
                            epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])


def test_attention_scores_keep_unknown_axes():
    q = sk.Input(shape=(None, 8))
    v = sk.Input(shape=(5, 6))
    out, scores = layers.MultiHeadAttention(num_heads=3, key_dim=4)(q, v, return_attention_scores=True)
    assert out.shape == (None, None, 8) and scores.shape == (None, 3, None, 5)
    model = sk.Model([q, v], [out, scores])
    real_out, real_scores = model([np.zeros((2, 4, 8), "float32"), np.zeros((2, 5, 6), "float32")])
    assert real_out.shape == (2, 4, 8) and real_scores.shape == (2, 3, 4, 5)
    out, scores = layers.Attention()([q, layers.Dense(8)(v)], return_attention_scores=True)
    assert out.shape == (None, None, 8) and scores.shape == (None, None, 5)


def test_batch_size_given_to_input_is_kept():
    x = sk.Input(shape=(5, 3), batch_size=8)
    y = layers.Conv1D(2, 3)(x)
    assert y.shape == (8, 3, 2)
    z = layers.Dense(4)(layers.Flatten()(y))
    assert z.shape == (8, 4)
    model = sk.Model(x, z)
    assert model.output_shape == (8, 4)


def test_nested_model_keeps_the_outer_batch_size_and_unknown_axes():
    inner_in = sk.Input(shape=(None, 3))
    inner = sk.Model(inner_in, layers.Dense(2)(inner_in))
    outer_in = sk.Input(shape=(7, 3), batch_size=4)
    assert inner(outer_in).shape == (4, 7, 2)
    stack = sk.Sequential([sk.Input(shape=(None, 3)), layers.Dense(5)])
    assert stack(sk.Input(shape=(None, 3))).shape == (None, None, 5)
    assert stack.compute_output_shape((2, 9, 3)) == (2, 9, 5)


def test_error_messages_show_none_for_unknown_axes():
    x = sk.Input(shape=(5, 8))
    with pytest.raises(ValueError) as info:
        layers.Conv2D(3, 3)(x)
    assert "(None, 5, 8)" in str(info.value)
    dense = layers.Dense(2)
    dense(sk.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"4 features.*\(None, 5, 8\)"):
        dense(x)


class _Windows(layers.Layer):
    """A user's layer with no compute_output_shape: it is dry-run to find its output shape."""

    def call(self, inputs):
        if inputs.shape[1] < 5:
            raise ValueError(f"_Windows needs at least 5 steps, got input of shape {tuple(inputs.shape)}")
        return inputs[:, 2:] * 2.0


def test_dry_run_of_a_user_layer_keeps_unknown_axes_none():
    x = sk.Input(shape=(None, 3))
    y = _Windows()(x)
    assert y.shape == (None, None, 3)
    y = _Windows()(sk.Input(shape=(9, 3)))
    assert y.shape == (None, 7, 3)


def test_dry_run_errors_name_the_symbolic_shape_not_the_sample_batch():
    with pytest.raises(ValueError) as info:
        _Windows()(sk.Input(shape=(4, 3)))
    message = str(info.value)
    assert "(None, 4, 3)" in message and "(2, 4, 3)" not in message
    assert "compute_output_shape" in message


def test_lambda_shapes_with_and_without_output_shape():
    x = sk.Input(shape=(None, 6))
    assert layers.Lambda(lambda t: t[:, :, :2])(x).shape == (None, None, 2)
    assert layers.Lambda(lambda t: t, output_shape=(4, 6))(x).shape == (None, 4, 6)
    assert layers.Lambda(lambda t: t, output_shape=lambda s: (s[0], 1))(x).shape == (None, 1)
    ids = sk.Input(shape=(3,), dtype="int32")
    assert layers.Lambda(lambda t: t + 1)(ids).dtype == "int32"


def test_symbolic_arithmetic_keeps_unknown_axes():
    x = sk.Input(shape=(None, 4))
    assert (x * 2.0 + x).shape == (None, None, 4)
    assert x[:, 0].shape == (None, 4)


def test_sequential_accepts_a_later_batch_with_another_length():
    model = sk.Sequential([sk.Input(shape=(None, 3)), layers.LSTM(4), layers.Dense(1)])
    assert model.output_shape == (None, 1)
    model.compile("adam", "mse")
    for length in (5, 9):
        model.fit(RNG.standard_normal((4, length, 3)), RNG.standard_normal((4, 1)), epochs=1, verbose=0)
    built_from_data = sk.Sequential([layers.Embedding(20, 4), layers.Conv1D(3, 5), layers.GlobalMaxPooling1D()])
    assert built_from_data(_ids(2, 6)).shape == (2, 3)
    assert built_from_data(_ids(3, 8)).shape == (3, 3)


def test_sequential_declared_shape_still_rejects_a_wrong_feature_count():
    model = sk.Sequential([sk.Input(shape=(None, 3)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"\(None, None, 3\)"):
        model(np.zeros((2, 5, 4), "float32"))


def test_sequential_build_runs_no_layer():
    calls = []

    class Counting(layers.Layer):
        def call(self, inputs):
            calls.append(tuple(inputs.shape))
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    model = sk.Sequential([sk.Input(shape=(None, 2)), Counting(), layers.Dense(3)])
    assert model.output_shape == (None, None, 3)
    assert calls == []


def test_sequential_build_explains_a_missing_input_shape():
    model = sk.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match=r"build\(input_shape\)"):
        model.build()
    model.build((None, None, 4))
    assert model.output_shape == (None, None, 2)


def test_dry_run_errors_hide_numbers_derived_from_the_sample_sizes():
    def bad_reshape(t):
        raise ValueError(f"cannot reshape {t.shape[0] * 40} values of shape {tuple(t.shape)} into (3, 3)")

    with pytest.raises(ValueError) as info:
        layers.Lambda(bad_reshape)(sk.Input(shape=(5, 8)))
    message = str(info.value)
    assert "(None, 5, 8)" in message and "into (3, 3)" in message
    assert "80" not in message and "120" not in message
