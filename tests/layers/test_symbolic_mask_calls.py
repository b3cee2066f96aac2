"""Masks while a functional graph is built: a layer whose call takes ``mask`` receives one during the
symbolic call when its input will carry a mask at run time (as in Keras 3), and not otherwise."""
import numpy as np

from shendu import keras


class NeedsMask(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.seen = []

    def call(self, inputs, mask=None):
        self.seen.append(None if mask is None else tuple(np.shape(mask)))
        if mask is None:
            return inputs
        return inputs * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)


def test_a_mask_reaches_a_custom_layer_through_a_dense_layer_while_building():
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = keras.layers.Dense(3)(x)                         # passes the mask on
    layer = NeedsMask()
    outputs = layer(x)
    assert layer.seen and layer.seen[-1] is not None and len(layer.seen[-1]) == 2
    model = keras.Model(inputs, outputs)
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    y = model.predict(ids, verbose=0)
    assert layer.seen[-1] == (2, 4)
    np.testing.assert_array_equal(y[ids == 0], 0.0)


def test_no_mask_when_nothing_upstream_masks():
    inputs = keras.Input((5, 3))
    layer = NeedsMask()
    layer(keras.layers.Dense(2)(inputs))
    assert layer.seen == [None] * len(layer.seen) and layer.seen


def test_a_layer_that_drops_the_mask_ends_it():
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = keras.layers.LSTM(3, return_sequences=True)(x)   # keeps it
    x = keras.layers.LSTM(3)(x)                           # drops it: one vector per sequence
    layer = NeedsMask()
    layer(keras.layers.RepeatVector(2)(x))
    assert set(layer.seen) == {None}
