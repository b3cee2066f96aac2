"""shendu/layers/embedding.py: Embedding (lookup, scatter-add gradient, mask_zero, errors that teach,
tf.keras 2 arguments) and Masking. The Keras 3 comparisons live in test_recurrent_oracles.py."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import call_with_weights, layer_contract

import shendu as sd
from shendu import layers
from shendu.testing import assert_close, gradcheck

IDS = np.array([[0, 3, 3, 7], [9, 0, 1, 3]])


def test_embedding_looks_up_rows_and_keeps_shapes():
    layer = layers.Embedding(10, 4)
    y = layer(IDS)
    table = layer.get_weights()[0]
    assert y.shape == (2, 4, 4) and y.dtype == np.float32
    assert_close(y, table[IDS], atol=0, rtol=0)
    assert [w.name for w in layer.weights] == ["embeddings"] and layer.count_params() == 40
    assert layers.Embedding(10, 4)(np.array([1, 2, 3])).shape == (3, 4)          # any id shape


def test_embedding_gradient_scatter_adds_repeated_ids():
    layer = layers.Embedding(10, 3, dtype="float64")
    layer(IDS)
    assert gradcheck(lambda table: call_with_weights(layer, IDS, [table]), layer.get_weights()[0])
    table = layer.embeddings
    y = layer(IDS)
    y.sum().backward()
    counts = np.bincount(IDS.ravel(), minlength=10)
    assert_close(table.grad, np.repeat(counts[:, None], 3, axis=1), atol=0, rtol=0)   # id 3 used 3 times


def test_embedding_one_training_step_changes_only_looked_up_rows():
    from shendu.optimizers import SGD
    layer = layers.Embedding(10, 3)
    y = layer(IDS)
    (y * y).sum().backward()
    before = layer.get_weights()[0]
    SGD(learning_rate=0.1).apply_gradients([(w.grad, w) for w in layer.trainable_weights])
    changed = np.any(layer.get_weights()[0] != before, axis=1)
    assert np.array_equal(np.flatnonzero(changed), np.unique(IDS))


def test_embedding_default_initializer_is_keras_uniform():
    layer = layers.Embedding(200, 8)
    layer.build()
    w = layer.get_weights()[0]
    assert np.abs(w).max() <= 0.05 and w.std() > 0.02          # U(-0.05, 0.05) has std 0.029


def test_embedding_mask_zero():
    layer = layers.Embedding(10, 4, mask_zero=True)
    y = layer(IDS)
    assert np.array_equal(y._keras_mask, IDS != 0) and layer.supports_masking
    assert getattr(layers.Embedding(10, 4)(IDS), "_keras_mask", None) is None


@pytest.mark.parametrize("as_input", [np.asarray, lambda a: a.tolist(), sd.tensor], ids=["ndarray", "list", "Tensor"])
def test_compute_mask_takes_arrays_lists_and_tensors_alike(as_input):
    mask = layers.Embedding(10, 4, mask_zero=True).compute_mask(as_input(IDS))
    assert isinstance(mask, np.ndarray) and np.array_equal(mask, IDS != 0)
    x = np.zeros((2, 3, 2), np.float32)
    x[0, 0, 1], x[1, 2, 0] = 1.0, 2.0
    mask = layers.Masking().compute_mask(as_input(x))
    assert isinstance(mask, np.ndarray) and np.array_equal(mask, [[True, False, False], [False, False, True]])


def test_embedding_out_of_range_error_teaches():
    layer = layers.Embedding(10000, 8, name="words")
    with pytest.raises(IndexError, match=r"Embedding 'words': index 10000 is out of range for input_dim=10000; "
                                         r"input_dim must be larger than the largest index \(vocabulary size \+ 1 "
                                         r"when index 0 is padding\)"):
        layer(np.array([[1, 10000]]))
    with pytest.raises(IndexError, match="negative"):
        layer(np.array([[-1, 2]]))


def test_embedding_accepts_integral_floats_and_rejects_fractions():
    layer = layers.Embedding(10, 2)
    assert_close(layer(IDS.astype(np.float32)), layer(IDS), atol=0, rtol=0)
    with pytest.raises(TypeError, match="integer token ids"):
        layer(np.array([[0.5, 1.0]]))


def test_embedding_input_length_is_accepted_and_validated():
    layer = layers.Embedding(10, 2, input_length=4)
    assert layer(IDS).shape == (2, 4, 2)
    with pytest.raises(ValueError, match="input_length=4 but got sequences of length 3"):
        layer(IDS[:, :3])
    with pytest.raises(ValueError, match="input_length must be a positive integer"):
        layers.Embedding(10, 2, input_length=0)
    with pytest.raises(ValueError, match="`input_dim` must be a positive integer"):
        layers.Embedding(0, 2)


def test_embedding_pretrained_weights_and_frozen():
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    layer = layers.Embedding(6, 2, weights=[table], trainable=False)
    assert layer.built and layer.trainable_weights == []
    assert_close(layer(np.array([[5, 0]])), table[[[5, 0]]], atol=0, rtol=0)
    assert_close(layers.Embedding(6, 2, weights=table)(np.array([1])), table[[1]], atol=0, rtol=0)


def test_embedding_config_round_trip_and_float64():
    layer = layers.Embedding(10, 3, mask_zero=True, embeddings_regularizer="l2", dtype="float64")
    config = layer.get_config()
    assert layers.Embedding.from_config(config).get_config() == config
    assert layer(IDS).dtype == np.float64
    assert len(layer.losses) == 1


def test_embedding_first_in_sequential_builds_on_integer_ids():
    from shendu.models import Sequential
    model = Sequential([layers.Input(shape=(4,)), layers.Embedding(10, 3, mask_zero=True), layers.LSTM(2)])
    assert model.output_shape == (None, 2)
    assert model(IDS).shape == (2, 2)


# ---------------------------------------------------------------- Masking

def _np_masking(x, mask_value=0.0):
    return x * np.any(x != mask_value, axis=-1, keepdims=True)


def test_masking_contract():
    # random inputs are never exactly the mask value, so finite differences never cross it
    layer_contract(partial(layers.Masking, mask_value=0.0), (2, 4, 3), (2, 4, 3), [], reference=_np_masking)


def test_masking_zeroes_masked_steps_and_sets_the_mask():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], np.float32)
    y = layers.Masking()(x)
    assert np.array_equal(y._keras_mask, [[True, False, True]])
    assert_close(y, x, atol=0, rtol=0)
    x = np.array([[[-1.0, -1.0], [2.0, -1.0]]], np.float32)
    y = layers.Masking(mask_value=-1.0)(x)
    assert np.array_equal(y._keras_mask, [[False, True]])
    assert_close(y, [[[0.0, 0.0], [2.0, -1.0]]], atol=0, rtol=0)
    assert layers.Masking(mask_value=-1.0).get_config()["mask_value"] == -1.0


def test_masking_gradient_flows_only_through_kept_steps():
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [0.5, -1.0]]])
    layer = layers.Masking(mask_value=-1.0, dtype="float64")
    # (no finite differences here: nudging a masked value unmasks the step; the contract checks elsewhere)
    t = sd.tensor(x, requires_grad=True)
    layer(t).sum().backward()
    assert np.array_equal(t.grad.numpy(), [[[1, 1], [0, 0], [1, 1]]])
