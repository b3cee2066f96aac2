"""shendu/layers/base.py: the layer life cycle (built, build, compute_output_shape/spec, dry runs)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import shendu.keras as sk
from shendu.layers.symbolic import KerasTensor

L = sk.layers

# (name, factory, built right after construction in Keras 3)
BUILT_AT_INIT = [
    ("Dense", lambda m: m.Dense(3), False),
    ("Activation", lambda m: m.Activation("relu"), True),
    ("Dropout", lambda m: m.Dropout(0.5), True),
    ("Flatten", lambda m: m.Flatten(), False),
    ("Reshape", lambda m: m.Reshape((3,)), True),
    ("Lambda", lambda m: m.Lambda(lambda x: x), False),
    ("ReLU", lambda m: m.ReLU(), True),
    ("LeakyReLU", lambda m: m.LeakyReLU(), True),
    ("Softmax", lambda m: m.Softmax(), True),
    ("ELU", lambda m: m.ELU(), True),
    ("PReLU", lambda m: m.PReLU(), False),
    ("Add", lambda m: m.Add(), False),
    ("Concatenate", lambda m: m.Concatenate(), False),
    ("Dot", lambda m: m.Dot(1), False),
    ("BatchNormalization", lambda m: m.BatchNormalization(), False),
    ("LayerNormalization", lambda m: m.LayerNormalization(), False),
    ("Conv1D", lambda m: m.Conv1D(2, 3), False),
    ("Conv2DTranspose", lambda m: m.Conv2DTranspose(2, 3), False),
    ("MaxPooling1D", lambda m: m.MaxPooling1D(2), True),
    ("AveragePooling2D", lambda m: m.AveragePooling2D(2), True),
    ("GlobalAveragePooling1D", lambda m: m.GlobalAveragePooling1D(), True),
    ("GlobalMaxPooling2D", lambda m: m.GlobalMaxPooling2D(), True),
    ("Cropping1D", lambda m: m.Cropping1D(), False),
    ("Cropping2D", lambda m: m.Cropping2D(), False),
    ("ZeroPadding2D", lambda m: m.ZeroPadding2D(), False),
    ("UpSampling1D", lambda m: m.UpSampling1D(), False),
    ("Permute", lambda m: m.Permute((2, 1)), False),
    ("RepeatVector", lambda m: m.RepeatVector(3), False),
    ("Embedding", lambda m: m.Embedding(10, 4), False),
    ("Masking", lambda m: m.Masking(), True),
    ("LSTM", lambda m: m.LSTM(3), False),
    ("Bidirectional", lambda m: m.Bidirectional(m.GRU(3)), False),
    ("TimeDistributed", lambda m: m.TimeDistributed(m.Dense(3)), False),
    ("Attention", lambda m: m.Attention(), False),
    ("MultiHeadAttention", lambda m: m.MultiHeadAttention(2, 4), False),
    ("SpatialDropout1D", lambda m: m.SpatialDropout1D(0.5), True),
    ("SpatialDropout2D", lambda m: m.SpatialDropout2D(0.5), True),
    ("GaussianNoise", lambda m: m.GaussianNoise(0.1), True),
    ("GaussianDropout", lambda m: m.GaussianDropout(0.1), True),
    ("Rescaling", lambda m: m.Rescaling(0.5), False),
]
IDS = [row[0] for row in BUILT_AT_INIT]


@pytest.mark.parametrize("name,make,built", BUILT_AT_INIT, ids=IDS)
def test_stateless_layers_are_built_at_construction(name, make, built):
    layer = make(L)
    assert layer.built is built
    if built:
        assert layer.weights == []


@pytest.mark.parametrize("name,make,built", BUILT_AT_INIT, ids=IDS)
def test_built_at_construction_agrees_with_keras(name, make, built):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    assert make(keras.layers).built is built


def test_build_creates_weights_once_and_marks_built():
    dense = L.Dense(3)
    dense.build((None, 4))
    assert dense.built and [w.shape for w in dense.weights] == [(4, 3), (3,)]
    dense(np.zeros((2, 4), "float32"))
    assert len(dense.weights) == 2


def test_symbolic_call_builds_from_the_symbolic_shape_with_its_batch_size():
    seen = []

    class Recording(L.Layer):
        def build(self, input_shape):
            seen.append(input_shape)

        def call(self, inputs):
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    Recording()(sk.Input(shape=(None, 3), batch_size=5))
    assert seen == [(5, None, 3)]


def test_compute_output_shape_before_build_creates_no_weights():
    conv = L.Conv2D(4, 3, strides=2)
    assert conv.compute_output_shape((None, None, 9, 3)) == (None, None, 4, 4)
    assert not conv.built and conv.weights == []


def test_compute_output_shape_of_a_layer_without_a_rule_is_found_by_a_dry_run():
    class Halve(L.Layer):
        def call(self, inputs):
            return inputs[:, ::2]

    assert Halve().compute_output_shape((None, 8, 3)) == (None, 4, 3)
    assert Halve().compute_output_shape((None, None, 3)) == (None, None, 3)
    assert Halve().compute_output_shape((6, 8, 3)) == (6, 4, 3)


def test_compute_output_spec_dtypes():
    floats = KerasTensor((None, 4), "float32")
    ints = KerasTensor((None, 4), "int32")
    assert L.Dense(2).compute_output_spec(floats).dtype == "float32"
    assert L.Embedding(10, 3).compute_output_spec(ints).dtype == "float32"
    assert L.Reshape((2, 2)).compute_output_spec(ints).dtype == "int32"       # reshaping keeps the dtype
    assert L.Dense(2, dtype="float64").compute_output_spec(floats).dtype == "float64"
    spec = L.LSTM(3, return_state=True).compute_output_spec(KerasTensor((None, 5, 2)))
    assert [t.shape for t in spec] == [(None, 3), (None, 3), (None, 3)]


def test_dry_run_leaves_no_activity_loss_behind():
    layer = L.Lambda(lambda x: x * 2.0, activity_regularizer="l2")
    layer(sk.Input(shape=(None, 3)))
    assert layer.losses == []


def test_stateless_layer_checks_its_input_rank_at_every_call():
    pool = L.MaxPooling2D()
    with pytest.raises(ValueError, match=r"rank 4 \(batch, height, width, channels\).*\(2, 8, 3\)"):
        pool(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"\(None, 8, 3\)"):
        pool(sk.Input(shape=(8, 3)))


def test_conv_checks_the_channels_it_was_built_for():
    conv = L.Conv1D(2, 3)
    conv(sk.Input(shape=(None, 4)))
    with pytest.raises(ValueError, match=r"size 4 on axis -1.*\(None, 7, 5\)"):
        conv(sk.Input(shape=(7, 5)))


def test_sublayers_built_in_a_dry_run_record_unknown_axes_as_none():
    class Block(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv1D(4, 3, padding="same")
            self.dense = L.Dense(2)

        def call(self, inputs):
            return self.dense(self.conv(inputs))

    block = Block()
    assert block(sk.Input(shape=(None, 3))).shape == (None, None, 2)
    assert block.conv._build_shape == (None, None, 3)        # not the sample length of the dry run
    assert block.dense._build_shape == (None, None, 4)
    fixed = Block()
    fixed(sk.Input(shape=(6, 3)))
    assert fixed.conv._build_shape == (None, 6, 3)


def test_a_layer_built_by_hand_is_marked_built_and_not_built_again():
    class Scale(L.Layer):
        def build(self, input_shape):           # no super().build(): Keras 3 marks it built anyway
            self.w = self.add_weight("w", (input_shape[-1],), "ones")

        def call(self, inputs):
            return inputs * self.w

    layer = Scale()
    layer.build((None, 4))
    assert layer.built and layer._build_shape == (None, 4)
    layer(np.ones((2, 4), "float32"))
    assert len(layer.weights) == 1


def test_a_spec_that_returns_its_input_does_not_rewire_the_graph():
    class Identity(L.Layer):
        def compute_output_spec(self, inputs, *args, **kwargs):
            return inputs

    x = sk.Input(shape=(3,))
    y = Identity()(x)
    assert y is not x and y.shape == (None, 3) and x.node is None
    model = sk.Model(x, L.Dense(2)(y))
    assert model(np.ones((4, 3), "float32")).shape == (4, 2)


# symbolic output dtype for an int32 input, as Keras 3 gives it: only Flatten, Reshape and Permute keep it
DTYPES = [
    ("Flatten", lambda m: m.Flatten(), (3, 4), "int32"),
    ("Reshape", lambda m: m.Reshape((12,)), (3, 4), "int32"),
    ("Permute", lambda m: m.Permute((2, 1)), (4, 2), "int32"),
    ("Dropout", lambda m: m.Dropout(0.5), (3, 4), "float32"),
    ("MaxPooling1D", lambda m: m.MaxPooling1D(), (4, 2), "float32"),
    ("Cropping1D", lambda m: m.Cropping1D(), (4, 2), "float32"),
    ("ZeroPadding2D", lambda m: m.ZeroPadding2D(), (4, 4, 2), "float32"),
    ("UpSampling1D", lambda m: m.UpSampling1D(), (4, 2), "float32"),
    ("RepeatVector", lambda m: m.RepeatVector(2), (4,), "float32"),
    ("Masking", lambda m: m.Masking(), (4, 2), "float32"),
    ("SpatialDropout1D", lambda m: m.SpatialDropout1D(0.5), (4, 2), "float32"),
    ("Embedding", lambda m: m.Embedding(5, 2), (4,), "float32"),
    ("Dense", lambda m: m.Dense(2), (4,), "float32"),
]


def _symbolic_dtype(module, make, shape):
    return make(module.layers)(module.Input(shape=shape, dtype="int32")).dtype


@pytest.mark.parametrize("name,make,shape,dtype", DTYPES, ids=[row[0] for row in DTYPES])
def test_symbolic_output_dtype(name, make, shape, dtype):
    assert _symbolic_dtype(sk, make, shape) == dtype


@pytest.mark.parametrize("name,make,shape,dtype", DTYPES, ids=[row[0] for row in DTYPES])
def test_symbolic_output_dtype_agrees_with_keras(name, make, shape, dtype):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    assert _symbolic_dtype(keras, make, shape) == dtype
