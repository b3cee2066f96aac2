"""shendu/layers/merging.py and shendu/layers/reshaping.py through the layer contract, plus their errors."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import distinct, layer_contract

import shendu as sd
from shendu import layers

# ---------------------------------------------------------------- merging

MERGE = [  # (layer, input shapes, NumPy reference)
    ("Add", [(2, 3), (2, 3), (2, 3)], lambda xs: xs[0] + xs[1] + xs[2]),
    ("Add", [(2, 3, 4), (2, 3, 4)], lambda xs: xs[0] + xs[1]),
    ("Subtract", [(2, 3), (2, 3)], lambda xs: xs[0] - xs[1]),
    ("Multiply", [(2, 3), (2, 3), (2, 3)], lambda xs: xs[0] * xs[1] * xs[2]),
    ("Average", [(2, 4), (2, 4), (2, 4)], lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    ("Maximum", [(2, 4), (2, 4), (2, 4)], lambda xs: np.maximum(np.maximum(xs[0], xs[1]), xs[2])),
    ("Minimum", [(3, 2, 2), (3, 2, 2)], lambda xs: np.minimum(xs[0], xs[1])),
]


@pytest.mark.parametrize("name,shapes,ref", MERGE,
                         ids=["add3", "add-3d", "subtract", "multiply3", "average3", "maximum3", "minimum"])
def test_merge_contract(name, shapes, ref):
    # distinct values: no ties between inputs, where Maximum/Minimum have a kink
    layer_contract(getattr(layers, name), shapes, shapes[0], [], domain=distinct(-2.0, 2.0),
                   reference=lambda xs: ref(xs))


@pytest.mark.parametrize("axis,shapes,out", [
    (-1, [(2, 3), (2, 5)], (2, 8)),
    (1, [(2, 3, 4), (2, 2, 4), (2, 1, 4)], (2, 6, 4)),
    (2, [(2, 3, 1), (2, 3, 2)], (2, 3, 3)),
    (-2, [(2, 1, 3), (2, 2, 3)], (2, 3, 3)),
], ids=["last", "axis1-three", "axis2", "axis-2"])
def test_concatenate_contract(axis, shapes, out):
    layer_contract(partial(layers.Concatenate, axis=axis), shapes, out, [],
                   reference=lambda xs: np.concatenate(xs, axis=axis))


def test_concatenate_mismatched_shapes_names_them():
    a, b = np.zeros((2, 3, 4), np.float32), np.zeros((2, 2, 5), np.float32)
    with pytest.raises(ValueError, match=r"axis -1.*\(None, 3, 4\).*\(None, 2, 5\)"):
        layers.Concatenate()([a, b])


def test_concatenate_mismatched_ranks_names_them():
    with pytest.raises(ValueError, match="same rank"):
        layers.Concatenate()([np.zeros((2, 3), np.float32), np.zeros((2, 3, 1), np.float32)])


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4)], ids=["2d", "3d"])
def test_merge_on_a_single_tensor_explains(name, shape):
    with pytest.raises(ValueError, match=f"{name} layer .* list of (at least|exactly) 2 tensors.*a single tensor"):
        getattr(layers, name)()(np.zeros(shape, np.float32))


@pytest.mark.parametrize("name", ["Add", "Concatenate"])
def test_merge_on_a_list_of_one_explains(name):
    with pytest.raises(ValueError, match="at least 2 tensors.*got 1 tensor\\."):
        getattr(layers, name)()([np.zeros((2, 3), np.float32)])


def test_subtract_needs_exactly_two_inputs():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([x, x, x])


def test_maximum_routes_the_gradient_to_the_larger_input():
    a = sd.tensor(np.array([[1.0, 5.0]], np.float32), requires_grad=True)
    b = sd.tensor(np.array([[3.0, 2.0]], np.float32), requires_grad=True)
    layers.Maximum()([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 1]])
    np.testing.assert_array_equal(b.grad.numpy(), [[1, 0]])


def test_concatenate_along_time_joins_the_masks():
    a, b = sd.tensor(np.ones((2, 3, 4), np.float32)), sd.tensor(np.ones((2, 2, 4), np.float32))
    a._keras_mask = np.array([[True, False, True], [True, True, False]])
    b._keras_mask = np.array([[False, True], [True, False]])
    y = layers.Concatenate(axis=1)([a, b])
    np.testing.assert_array_equal(y._keras_mask, np.concatenate([a._keras_mask, b._keras_mask], axis=1))


def test_concatenate_features_keeps_a_step_any_input_keeps():
    a, b = sd.tensor(np.ones((2, 3, 4), np.float32)), sd.tensor(np.ones((2, 3, 2), np.float32))
    a._keras_mask = np.array([[True, False, True], [False, False, False]])
    y = layers.Concatenate()([a, b])                  # b has no mask: all of its steps count (Keras's rule)
    np.testing.assert_array_equal(y._keras_mask, np.ones((2, 3), bool))
    b._keras_mask = np.array([[False, False, True], [True, False, False]])
    np.testing.assert_array_equal(layers.Concatenate()([a, b])._keras_mask, a._keras_mask | b._keras_mask)


# ---------------------------------------------------------------- reshaping

def test_up_sampling_2d_contract():
    layer_contract(partial(layers.UpSampling2D, size=(2, 3)), (2, 3, 4, 2), (2, 6, 12, 2), [],
                   reference=lambda x: x.repeat(2, axis=1).repeat(3, axis=2))


def test_up_sampling_2d_channels_first_contract():
    layer_contract(partial(layers.UpSampling2D, data_format="channels_first"), (1, 3, 2, 4), (1, 3, 4, 8), [],
                   reference=lambda x: x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("padding,pads", [
    (1, ((1, 1), (1, 1))), ((2, 1), ((2, 2), (1, 1))), (((1, 2), (0, 3)), ((1, 2), (0, 3))),
], ids=["int", "pair", "pairs"])
def test_zero_padding_2d_contract(padding, pads):
    (t, b), (l, r) = pads
    layer_contract(partial(layers.ZeroPadding2D, padding), (2, 3, 4, 2), (2, 3 + t + b, 4 + l + r, 2), [],
                   reference=lambda x: np.pad(x, ((0, 0), *pads, (0, 0))))


def test_zero_padding_2d_channels_first_contract():
    layer_contract(partial(layers.ZeroPadding2D, ((1, 0), (2, 1)), data_format="channels_first"),
                   (1, 2, 3, 3), (1, 2, 4, 6), [],
                   reference=lambda x: np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 1))))


@pytest.mark.parametrize("cropping,crops", [
    (1, ((1, 1), (1, 1))), ((0, 2), ((0, 0), (2, 2))), (((1, 0), (2, 1)), ((1, 0), (2, 1))),
], ids=["int", "pair", "pairs"])
def test_cropping_2d_contract(cropping, crops):
    (t, b), (l, r) = crops
    layer_contract(partial(layers.Cropping2D, cropping), (2, 5, 6, 2), (2, 5 - t - b, 6 - l - r, 2), [],
                   reference=lambda x: x[:, t:5 - b, l:6 - r])


def test_cropping_2d_channels_first_contract():
    layer_contract(partial(layers.Cropping2D, ((1, 0), (0, 2)), data_format="channels_first"),
                   (1, 2, 4, 5), (1, 2, 3, 3), [], reference=lambda x: x[:, :, 1:, :3])


def test_cropping_2d_too_much_explains():
    with pytest.raises(ValueError, match="Cropping2D"):
        layers.Cropping2D(((2, 2), (0, 0)))(np.zeros((1, 4, 4, 1), np.float32))


def test_reshaping_layers_reject_wrong_rank():
    for layer in (layers.UpSampling2D(), layers.ZeroPadding2D(), layers.Cropping2D()):
        with pytest.raises(ValueError, match="rank 4"):
            layer(np.zeros((2, 3, 4), np.float32))
