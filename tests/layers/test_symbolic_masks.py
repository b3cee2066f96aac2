"""Masks on symbolic tensors: which functional outputs carry one, its shape, and a model that outputs it,
each compared with Keras 3."""
from __future__ import annotations

import numpy as np
import pytest

import shendu.keras as sk


def _mask_of(lib, t):
    """shendu: the tf.keras 2 attribute; Keras 3 keeps the same attribute behind keras.src.backend.get_keras_mask."""
    return lib.src.backend.get_keras_mask(t) if lib is not sk else t._keras_mask


def _shape(t):
    return None if t is None else tuple(t.shape)


GRAPHS = {
    "masking": lambda lib, a, b: lib.layers.Masking()(a),
    "concat_one_masked": lambda lib, a, b: lib.layers.Concatenate(axis=1)([lib.layers.Masking()(a), b]),
    "add_one_masked": lambda lib, a, b: lib.layers.Add()([lib.layers.Masking()(a), b]),
    "dense_after_masking": lambda lib, a, b: lib.layers.Dense(3)(lib.layers.Masking()(a)),
    "lstm_sequences": lambda lib, a, b: lib.layers.LSTM(3, return_sequences=True)(lib.layers.Masking()(a)),
    "lstm_last": lambda lib, a, b: lib.layers.LSTM(3)(lib.layers.Masking()(a)),
    "pooled": lambda lib, a, b: lib.layers.GlobalAveragePooling1D()(lib.layers.Masking()(a)),
    "unmasked": lambda lib, a, b: lib.layers.Dense(2)(a),
}


@pytest.mark.parametrize("graph", list(GRAPHS))
def test_symbolic_output_carries_the_mask_keras_gives_it(keras, graph):
    ours = GRAPHS[graph](sk, sk.Input((4, 2)), sk.Input((4, 2)))
    theirs = GRAPHS[graph](keras, keras.Input((4, 2)), keras.Input((4, 2)))
    assert _shape(_mask_of(sk, ours)) == _shape(_mask_of(keras, theirs))


def test_model_can_output_a_mask(keras):
    x1 = np.array([[[0, 0], [1, 2], [0, 0], [3, 4]]], np.float32)
    x2 = np.array([[[0, 0], [0, 0], [1, 2], [3, 4]]], np.float32)
    results = []
    for lib in (sk, keras):
        a, b = lib.Input((4, 2)), lib.Input((4, 2))
        out = lib.layers.Concatenate(axis=1)([lib.layers.Masking()(a), b])
        model = lib.Model([a, b], [out, _mask_of(lib, out)])
        values, mask = model([x1, x2])
        results.append(keras.ops.convert_to_numpy(mask) if lib is keras else mask.numpy())
    assert results[0].dtype == bool
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], [[False, True, False, True, True, True, True, True]])


def test_reading_a_mask_twice_gives_the_same_node():
    out = sk.layers.Masking()(sk.Input((3, 2)))
    assert out._keras_mask is out._keras_mask
    assert sk.layers.Dense(2)(sk.Input((3, 2)))._keras_mask is None
