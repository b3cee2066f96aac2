"""Masks through the merge layers (shendu/layers/merging.py), as Keras 3 defines them.

The output is masked only when every input is, with the OR of the masks; Maximum and Minimum
ignore hidden values, Multiply counts them as 1 (and zeroes steps hidden everywhere), Concatenate
joins the masks. Each case is checked against values written here and, where Keras 3 is installed,
against Keras 3 itself on the same inputs.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import shendu as sd
import shendu.keras as sk

A = np.arange(12, dtype=np.float32).reshape(2, 3, 2) - 5
B = np.ascontiguousarray(np.arange(12, dtype=np.float32).reshape(2, 3, 2)[::-1] - 4)
MASK_A = np.array([[True, True, False], [True, False, False]])
MASK_B = np.array([[True, False, False], [True, True, True]])
LAYERS = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
WHICH = {"both": (True, True), "first": (True, False), "second": (False, True)}


def _shendu(name, which, as_tensor=False):
    xs = []
    for x, m, masked in zip((A, B), (MASK_A, MASK_B), WHICH[which]):
        t = sd.tensor(x)
        if masked:
            t._keras_mask = sd.tensor(m) if as_tensor else m
        xs.append(t)
    out = getattr(sk.layers, name)()(xs)
    mask = getattr(out, "_keras_mask", None)
    return out.numpy(), None if mask is None else np.asarray(mask)


@pytest.fixture(scope="module")
def keras_merge():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from keras.src import backend

    def run(name, which):
        xs = []
        for x, m, masked in zip((A, B), (MASK_A, MASK_B), WHICH[which]):
            t = torch.tensor(x)
            if masked:
                backend.set_keras_mask(t, torch.tensor(m))
            xs.append(t)
        out = getattr(keras.layers, name)()(xs)
        mask = backend.get_keras_mask(out)
        return out.numpy(), None if mask is None else mask.numpy()
    return run


@pytest.mark.parametrize("which", list(WHICH))
@pytest.mark.parametrize("name", LAYERS)
def test_merge_values_and_mask_match_keras(name, which, keras_merge):
    values, mask = _shendu(name, which)
    k_values, k_mask = keras_merge(name, which)
    np.testing.assert_allclose(values, k_values, rtol=1e-6)
    if k_mask is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(mask, k_mask)


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_merge_of_masked_inputs_ors_the_masks(name):
    _, mask = _shendu(name, "both")
    np.testing.assert_array_equal(mask, MASK_A | MASK_B)
    np.testing.assert_array_equal(mask, [[True, True, False], [True, True, True]])


@pytest.mark.parametrize("which", ["first", "second"])
@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_merge_with_an_unmasked_input_has_no_mask(name, which):
    assert _shendu(name, which)[1] is None


@pytest.mark.parametrize("name", LAYERS)
def test_tensor_masks_work_like_array_masks(name):
    for which in WHICH:
        values, mask = _shendu(name, which)
        t_values, t_mask = _shendu(name, which, as_tensor=True)
        np.testing.assert_array_equal(values, t_values)
        assert (mask is None) == (t_mask is None)
        if mask is not None:
            np.testing.assert_array_equal(mask, t_mask)


def test_add_keeps_hidden_values_as_they_are():
    values, _ = _shendu("Add", "both")
    np.testing.assert_array_equal(values, A + B)


def test_maximum_ignores_a_hidden_value():
    values, _ = _shendu("Maximum", "second")
    # B is hidden at steps 1 and 2 of sample 0: A's values stand there, even where B's are larger
    np.testing.assert_array_equal(values[0, 1:], A[0, 1:])
    np.testing.assert_array_equal(values[1], np.maximum(A[1], B[1]))


def test_minimum_of_masked_inputs_takes_the_visible_value():
    values, _ = _shendu("Minimum", "first")
    np.testing.assert_array_equal(values[0, 2], B[0, 2])       # A hidden at step 2: B's value, not min
    np.testing.assert_array_equal(values[0, :2], np.minimum(A[0, :2], B[0, :2]))


def test_multiply_counts_hidden_values_as_one_and_zeroes_steps_hidden_everywhere():
    values, mask = _shendu("Multiply", "both")
    np.testing.assert_array_equal(values[0, 0], A[0, 0] * B[0, 0])
    np.testing.assert_array_equal(values[0, 1], A[0, 1])       # B hidden: counts as 1
    np.testing.assert_array_equal(values[0, 2], [0.0, 0.0])    # hidden in both
    values, _ = _shendu("Multiply", "first")
    np.testing.assert_array_equal(values[0, 2], B[0, 2])       # only A masked: no zeroing


def test_concatenate_with_one_mask_keeps_every_step_of_the_unmasked_input():
    _, mask = _shendu("Concatenate", "first")
    np.testing.assert_array_equal(mask, np.ones((2, 3), bool))   # features joined: any visible keeps the step
    layer = sk.layers.Concatenate(axis=1)
    mask = layer.compute_mask([sd.tensor(A), sd.tensor(B)], [sd.tensor(MASK_A), None])
    np.testing.assert_array_equal(mask, np.concatenate([MASK_A, np.ones((2, 3), bool)], axis=1))


def test_compute_mask_takes_tensors_and_checks_the_list():
    layer = sk.layers.Add()
    mask = layer.compute_mask([A, B], [sd.tensor(MASK_A), sd.tensor(MASK_B)])
    np.testing.assert_array_equal(mask, MASK_A | MASK_B)
    assert layer.compute_mask([A, B], None) is None
    with pytest.raises(ValueError, match="should have the same length"):
        layer.compute_mask([A, B], [MASK_A])


def test_functional_model_masks_through_add():
    ids = sk.Input(shape=(None,), dtype="int32")
    masked = sk.layers.Embedding(10, 4, mask_zero=True)(ids)
    plain = sk.layers.Embedding(10, 4)(ids)
    both = sk.layers.Add()([masked, sk.layers.Embedding(10, 4, mask_zero=True)(ids)])
    one = sk.layers.Add()([masked, plain])
    model = sk.Model(ids, [both, one])
    x = np.array([[1, 2, 0], [3, 0, 0]])
    out_both, out_one = model(x)
    np.testing.assert_array_equal(out_both._keras_mask, x != 0)
    assert getattr(out_one, "_keras_mask", None) is None


@pytest.mark.parametrize("name", LAYERS)
def test_compute_mask_rejects_a_mask_that_is_not_one_per_input(name):
    layer = getattr(sk.layers, name)()
    x1, x2 = sk.Input(shape=(4, 5)), sk.Input(shape=(4, 5))
    assert layer.compute_mask([x1, x2], [None, None]) is None
    with pytest.raises(ValueError, match="`mask` should be a list"):
        layer.compute_mask([x1, x2], np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="`inputs` should be a list"):
        layer.compute_mask(x1, [None, None])
    with pytest.raises(ValueError, match="should have the same length"):
        layer.compute_mask([x1, x2], [None])


def test_masking_layer_feeds_merge_layers_as_in_keras():
    masking = sk.layers.Masking()
    x1 = masking(sd.tensor(np.array([[[0, 0], [1, 2], [0, 0], [3, 4]]], np.float32)))
    x2 = sd.tensor(np.array([[[0, 0], [0, 0], [1, 2], [3, 4]]], np.float32))
    out = sk.layers.Multiply()([x1, masking(x2)])
    np.testing.assert_array_equal(out.numpy(), [[[0, 0], [1, 2], [1, 2], [9, 16]]])
    np.testing.assert_array_equal(out._keras_mask, [[False, True, True, True]])
    out = sk.layers.Concatenate(axis=1)([x1, x2])
    np.testing.assert_array_equal(out._keras_mask, [[False, True, False, True, True, True, True, True]])
