"""Keras 3 reads shendu's files and shendu reads Keras 3's, with the same predictions.

One table drives every check: each row builds the same small model twice, once with
``keras.layers`` and once with ``shendu.layers`` (identical code, only the module differs).
Rows whose layer is missing from either library are skipped at collection, so layers added to
shendu later are covered by adding a row, and a row is never silently hidden by a failure.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import shendu.layers as sl  # noqa: E402
from shendu import models as sm  # noqa: E402
from shendu import saving  # noqa: E402


class Lib:
    """The handful of names a row needs, from one library."""

    def __init__(self, layers, Input, Model, Sequential):
        self.L, self.Input, self.Model, self.Sequential = layers, Input, Model, Sequential


KERAS = Lib(keras.layers, keras.Input, keras.Model, keras.Sequential)
SHENDU = Lib(sl, sl.Input, sm.Model, sm.Sequential)


def seq(shape, *make):
    """A Sequential row: Input(shape) then the layers ``make(L)`` returns."""
    def build(lib):
        return lib.Sequential([lib.Input(shape)] + [m(lib.L) for m in make])
    return build, [shape]


def two_inputs(shape_a, shape_b, merge):
    """A functional row on two inputs: ``merge(L, a, b)`` gives the output."""
    def build(lib):
        a, b = lib.Input(shape_a, name="a"), lib.Input(shape_b, name="b")
        return lib.Model([a, b], merge(lib.L, a, b))
    return build, [shape_a, shape_b]


def shared_model(lib):
    """Two inputs through one shared Dense, concatenated, then a head (layer reuse + merge)."""
    L = lib.L
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    shared = L.Dense(5, activation="tanh", name="shared")
    x = L.Concatenate()([shared(a), shared(b), L.Dense(3, name="side")(b)])
    return lib.Model([a, b], L.Dense(2, name="head")(x))


def branchy_model(lib):
    """Branches of different depth: Keras orders the layers by depth, so weight paths are numbered
    in an order that differs from a plain depth-first walk."""
    L = lib.L
    x = lib.Input((4,), name="x")
    deep = L.Dense(7, name="d3")(L.Dense(6, name="d2")(L.Dense(5, name="d1")(x)))
    return lib.Model(x, L.Concatenate()([L.Dense(8, name="d4")(x), deep]))


def nested_model(lib):
    """A functional model called twice inside another (asymmetrically, so swapped calls would show),
    one of its calls an output, and a Sequential head: nested models and their node numbering."""
    L = lib.L
    i = lib.Input((4,))
    inner = lib.Model(i, L.Dense(3, activation="tanh")(i), name="inner")
    head = lib.Sequential([lib.Input((3,)), L.Dense(2)], name="head")
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    return lib.Model([a, b], [head(L.Subtract()([inner(a), inner(b)])), inner(b)])


ROWS = {
    "mlp": (lambda lib: lib.Sequential([lib.Input((6,)), lib.L.Dense(8, activation="relu"), lib.L.Dense(3)]), [(6,)]),
    "shared_functional": (shared_model, [(4,), (4,)]),
    "branchy_functional": (branchy_model, [(4,)]),
    "nested_models": (nested_model, [(4,), (4,)]),
    "Dense": seq((6,), lambda L: L.Dense(5, activation="tanh")),
    "Dropout": seq((6,), lambda L: L.Dense(5), lambda L: L.Dropout(0.3)),
    "Flatten": seq((3, 4), lambda L: L.Flatten(), lambda L: L.Dense(2)),
    "Reshape": seq((12,), lambda L: L.Reshape((3, 4))),
    "Activation": seq((6,), lambda L: L.Activation("sigmoid")),
    "BatchNormalization": seq((6,), lambda L: L.BatchNormalization()),
    "LayerNormalization": seq((6,), lambda L: L.LayerNormalization()),
    "LeakyReLU": seq((6,), lambda L: L.LeakyReLU(negative_slope=0.2)),
    "ReLU": seq((6,), lambda L: L.ReLU(max_value=0.5)),
    "Softmax": seq((6,), lambda L: L.Softmax()),
    "ELU": seq((6,), lambda L: L.ELU()),
    "Add": two_inputs((5,), (5,), lambda L, a, b: L.Add()([a, b])),
    "Subtract": two_inputs((5,), (5,), lambda L, a, b: L.Subtract()([a, b])),
    "Multiply": two_inputs((5,), (5,), lambda L, a, b: L.Multiply()([a, b])),
    "Average": two_inputs((5,), (5,), lambda L, a, b: L.Average()([a, b])),
    "Maximum": two_inputs((5,), (5,), lambda L, a, b: L.Maximum()([a, b])),
    "Minimum": two_inputs((5,), (5,), lambda L, a, b: L.Minimum()([a, b])),
    "Concatenate": two_inputs((5,), (3,), lambda L, a, b: L.Concatenate()([a, b])),
    "Conv1D": seq((10, 3), lambda L: L.Conv1D(4, 3, padding="same", activation="relu")),
    "Conv2D": seq((8, 8, 3), lambda L: L.Conv2D(4, 3, strides=2)),
    "Conv2DTranspose": seq((5, 5, 3), lambda L: L.Conv2DTranspose(4, 3, strides=2, padding="same")),
    "MaxPooling1D": seq((8, 3), lambda L: L.MaxPooling1D(2)),
    "MaxPooling2D": seq((6, 6, 2), lambda L: L.MaxPooling2D()),
    "AveragePooling1D": seq((8, 3), lambda L: L.AveragePooling1D(2)),
    "AveragePooling2D": seq((6, 6, 2), lambda L: L.AveragePooling2D(2)),
    "GlobalMaxPooling1D": seq((8, 3), lambda L: L.GlobalMaxPooling1D()),
    "GlobalMaxPooling2D": seq((6, 6, 2), lambda L: L.GlobalMaxPooling2D()),
    "GlobalAveragePooling1D": seq((8, 3), lambda L: L.GlobalAveragePooling1D()),
    "GlobalAveragePooling2D": seq((6, 6, 2), lambda L: L.GlobalAveragePooling2D()),
    "UpSampling2D": seq((3, 3, 2), lambda L: L.UpSampling2D()),
    "Conv3D": seq((4, 5, 4, 2), lambda L: L.Conv3D(4, 2, padding="same", groups=2)),
    "Conv1DTranspose": seq((5, 3), lambda L: L.Conv1DTranspose(4, 3, strides=2, padding="same")),
    "Conv3DTranspose": seq((3, 2, 3, 2), lambda L: L.Conv3DTranspose(2, 2, strides=2)),
    "DepthwiseConv1D": seq((8, 3), lambda L: L.DepthwiseConv1D(3, depth_multiplier=2)),
    "DepthwiseConv2D": seq((6, 6, 2), lambda L: L.DepthwiseConv2D(3, padding="same")),
    "SeparableConv1D": seq((8, 3), lambda L: L.SeparableConv1D(4, 3)),
    "SeparableConv2D": seq((6, 6, 2), lambda L: L.SeparableConv2D(3, 3, depth_multiplier=2)),
    "MaxPooling3D": seq((4, 4, 4, 2), lambda L: L.MaxPooling3D()),
    "AveragePooling3D": seq((4, 4, 4, 2), lambda L: L.AveragePooling3D(2)),
    "GlobalMaxPooling3D": seq((3, 4, 2, 2), lambda L: L.GlobalMaxPooling3D()),
    "GlobalAveragePooling3D": seq((3, 4, 2, 2), lambda L: L.GlobalAveragePooling3D()),
    "ZeroPadding2D": seq((3, 3, 2), lambda L: L.ZeroPadding2D(1)),
    "Cropping2D": seq((6, 6, 2), lambda L: L.Cropping2D(1)),
    "RepeatVector": seq((4,), lambda L: L.RepeatVector(3)),
    "Embedding": seq((5,), lambda L: L.Embedding(20, 4)),
    "SimpleRNN": seq((5, 3), lambda L: L.SimpleRNN(4)),
    "LSTM": seq((5, 3), lambda L: L.LSTM(4, return_sequences=True)),
    "GRU": seq((5, 3), lambda L: L.GRU(3)),
    "RNN": seq((5, 3), lambda L: L.RNN(L.LSTMCell(4))),
    "GRUCell": seq((5, 3), lambda L: L.RNN(L.GRUCell(4), return_sequences=True)),
    "SimpleRNNCell": seq((5, 3), lambda L: L.RNN(L.SimpleRNNCell(4))),
    "Bidirectional": seq((5, 3), lambda L: L.Bidirectional(L.LSTM(3))),
    "TimeDistributed": seq((4, 5), lambda L: L.TimeDistributed(L.Dense(3))),
    "Masking": seq((5, 3), lambda L: L.Masking(0.0), lambda L: L.LSTM(2)),
    "Attention": two_inputs((4, 6), (5, 6), lambda L, q, v: L.Attention()([q, v])),
    "AdditiveAttention": two_inputs((4, 6), (5, 6), lambda L, q, v: L.AdditiveAttention()([q, v])),
    "MultiHeadAttention": two_inputs((4, 6), (5, 6), lambda L, q, v: L.MultiHeadAttention(2, 3)(q, v)),
    "PReLU": seq((3, 4), lambda L: L.PReLU(shared_axes=[1])),
    "SpatialDropout1D": seq((5, 3), lambda L: L.SpatialDropout1D(0.3), lambda L: L.Flatten()),
    "SpatialDropout2D": seq((4, 4, 2), lambda L: L.SpatialDropout2D(0.3)),
    "SpatialDropout3D": seq((3, 3, 3, 2), lambda L: L.SpatialDropout3D(0.3)),
    "GaussianNoise": seq((6,), lambda L: L.Dense(4), lambda L: L.GaussianNoise(0.1)),
    "GaussianDropout": seq((6,), lambda L: L.Dense(4), lambda L: L.GaussianDropout(0.2)),
    "ActivityRegularization": seq((6,), lambda L: L.Dense(4), lambda L: L.ActivityRegularization(0.01, 0.02)),
    "Permute": seq((3, 4), lambda L: L.Permute((2, 1))),
    "UpSampling1D": seq((4, 3), lambda L: L.UpSampling1D(3)),
    "ZeroPadding1D": seq((4, 3), lambda L: L.ZeroPadding1D((1, 2))),
    "Cropping1D": seq((6, 3), lambda L: L.Cropping1D((2, 1))),
    "Dot": two_inputs((3, 5), (4, 5), lambda L, a, b: L.Dot(axes=(2, 2), normalize=True)([a, b])),
    "Rescaling": seq((6,), lambda L: L.Rescaling(1 / 255, offset=-0.5)),
    "Rescaling_per_channel": seq((4, 3), lambda L: L.Rescaling(np.array([1.0, 2.0, 3.0], "float32"))),
    "Normalization": seq((6,), lambda L: L.Normalization()),
    "Normalization_given": seq((2, 3), lambda L: L.Normalization(axis=(1, 2), mean=[1.0, 2.0, 3.0],
                                                                  variance=[1.0, 4.0, 9.0], invert=True)),
}
NEEDS = {"mlp": ["Dense"], "shared_functional": ["Dense", "Concatenate"], "branchy_functional": ["Dense"],
         "nested_models": ["Dense", "Subtract"],
         "Flatten": ["Flatten", "Dense"], "Dropout": ["Dropout", "Dense"], "RNN": ["RNN", "LSTMCell"],
         "Bidirectional": ["Bidirectional", "LSTM"], "TimeDistributed": ["TimeDistributed", "Dense"],
         "Masking": ["Masking", "LSTM"], "GRUCell": ["RNN", "GRUCell"],
         "SimpleRNNCell": ["RNN", "SimpleRNNCell"], "GaussianNoise": ["GaussianNoise", "Dense"],
         "GaussianDropout": ["GaussianDropout", "Dense"],
         "ActivityRegularization": ["ActivityRegularization", "Dense"],
         "SpatialDropout1D": ["SpatialDropout1D", "Flatten"],
         "Rescaling_per_channel": ["Rescaling"], "Normalization_given": ["Normalization"]}
# the base class; in every row; tested with custom_objects below; Keras 3's needs TensorFlow (shendu's
# vocabulary asset is tested in test_saving.py)
EXEMPT = {"Layer", "InputLayer", "Lambda", "TextVectorization"}
INT_INPUTS = {"Embedding"}


def _present(row):
    return all(hasattr(sl, n) and hasattr(keras.layers, n) for n in NEEDS.get(row, [row]))


PRESENT = [r for r in ROWS if _present(r)]


def _inputs(row, shapes, rng):
    if row in INT_INPUTS:
        return [rng.integers(1, 20, size=(3,) + s).astype("int32") for s in shapes]
    return [rng.normal(size=(3,) + s).astype("float32") for s in shapes]


def _randomize(weights, rng):
    """Random values for every weight; variances (all-positive slots such as moving_variance) stay positive."""
    return [(np.abs(rng.normal(size=w.shape)) + 0.5 if np.all(w > 0) else rng.normal(size=w.shape) * 0.5)
            .astype(w.dtype) for w in weights]


def _predict(model, xs):
    """All outputs side by side as one (batch, -1) array."""
    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return np.concatenate([np.asarray(o).reshape(len(o), -1) for o in outs], axis=1)


def test_every_layer_both_libraries_have_is_in_the_table():
    """A layer added to shendu.layers that Keras also has must get a row here."""
    registry = saving.layer_registry()
    covered = {registry[n] for names in [NEEDS.get(r, [r]) for r in ROWS] for n in names if n in registry}
    missing = sorted(name for name, cls in registry.items()
                     if name == cls.__name__ and hasattr(keras.layers, name) and cls not in covered
                     and name not in EXEMPT)
    assert not missing, f"add rows to ROWS for {missing}"


@pytest.mark.parametrize("row", PRESENT)
def test_keras_file_loads_in_shendu(row, tmp_path, rng):
    build, shapes = ROWS[row]
    km = build(KERAS)
    km.set_weights(_randomize(km.get_weights(), rng))
    path = str(tmp_path / "from_keras.keras")
    km.save(path)
    xs = _inputs(row, shapes, rng)
    sm_ = saving.load_model(path)
    np.testing.assert_allclose(_predict(sm_, xs), _predict(km, xs), atol=1e-6, rtol=1e-5)
    for layer in km.layers:                    # layer by layer: the model-level order may differ
        mine = sm_.get_layer(layer.name).get_weights()
        assert len(mine) == len(layer.get_weights())
        for a, b in zip(mine, layer.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("row", PRESENT)
def test_shendu_file_loads_in_keras(row, tmp_path, rng):
    build, shapes = ROWS[row]
    model = build(SHENDU)
    model.set_weights(_randomize(model.get_weights(), rng))
    path = str(tmp_path / "from_shendu.keras")
    model.save(path)
    xs = _inputs(row, shapes, rng)
    km = keras.saving.load_model(path)
    np.testing.assert_allclose(_predict(km, xs), _predict(model, xs), atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------------- optimizer state

def _slot_table_keras(km):
    """{(layer name, weight index, slot name): array} from a Keras model's Adam."""
    table = {}
    opt = km.optimizer
    for layer in km.layers:
        for i, w in enumerate(layer.trainable_weights):
            for slot in ("momentum", "velocity"):
                index = opt._get_variable_index(w)
                table[(layer.name, i, slot)] = np.asarray({"momentum": opt._momentums,
                                                           "velocity": opt._velocities}[slot][index])
    return table


def _slot_table_shendu(model):
    table = {}
    for layer in model.layers:
        for i, w in enumerate(layer.trainable_weights):
            for slot in ("momentum", "velocity"):
                table[(layer.name, i, slot)] = np.asarray(model.optimizer.get_slot(w, slot))
    return table


def _fit_data(rng):
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 15)).astype("float32")


def test_optimizer_state_from_keras(tmp_path, rng):
    """Slots land on the right variables even where Keras orders the layers differently."""
    km = branchy_model(KERAS)
    km.compile(optimizer="adam", loss="mse")
    km.fit(*_fit_data(rng), epochs=2, batch_size=8, verbose=0)
    km.save(tmp_path / "k.keras")
    model = saving.load_model(tmp_path / "k.keras")
    assert model.optimizer.iterations == int(km.optimizer.iterations) == 4
    keras_slots, shendu_slots = _slot_table_keras(km), _slot_table_shendu(model)
    assert keras_slots.keys() == shendu_slots.keys()
    for key in keras_slots:
        np.testing.assert_allclose(shendu_slots[key], keras_slots[key], rtol=1e-6, err_msg=str(key))


def test_optimizer_state_to_keras(tmp_path, rng):
    model = branchy_model(SHENDU)
    model.compile(optimizer="adam", loss="mse")
    model.fit(*_fit_data(rng), epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "s.keras")
    km = keras.saving.load_model(tmp_path / "s.keras")
    assert int(km.optimizer.iterations) == 4 and km.loss == "mse"
    keras_slots, shendu_slots = _slot_table_keras(km), _slot_table_shendu(model)
    for key in keras_slots:
        np.testing.assert_allclose(keras_slots[key], shendu_slots[key], rtol=1e-6, err_msg=str(key))


def test_training_continues_alike_in_both(tmp_path, rng):
    """A Keras checkpoint resumed in shendu takes the same next step as Keras itself."""
    x, y = _fit_data(rng)
    km = branchy_model(KERAS)
    km.compile(optimizer="adam", loss="mse")
    km.fit(x, y, epochs=1, batch_size=16, verbose=0)
    km.save(tmp_path / "k.keras")
    model = saving.load_model(tmp_path / "k.keras")
    km.train_on_batch(x, y)
    model.train_on_batch(x, y)
    for layer in km.layers:
        for a, b in zip(model.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_allclose(a, b, atol=1e-6)


# ----------------------------------------------------------------------------------- legacy and weights files

def test_keras_weights_file_loads_in_shendu(tmp_path, rng):
    km = shared_model(KERAS)
    km.set_weights(_randomize(km.get_weights(), rng))
    km.save_weights(tmp_path / "k.weights.h5")
    model = shared_model(SHENDU)
    model.load_weights(tmp_path / "k.weights.h5")
    xs = _inputs("shared", [(4,), (4,)], rng)
    np.testing.assert_allclose(_predict(model, xs), _predict(km, xs), atol=1e-6)


def test_shendu_weights_file_loads_in_keras(tmp_path, rng):
    model = shared_model(SHENDU)
    model.save_weights(tmp_path / "s.weights.h5")
    km = shared_model(KERAS)
    km.load_weights(tmp_path / "s.weights.h5")
    xs = _inputs("shared", [(4,), (4,)], rng)
    np.testing.assert_allclose(_predict(km, xs), _predict(model, xs), atol=1e-6)


def test_legacy_h5_model_from_keras(tmp_path, rng):
    import warnings
    km = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                           keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    km.compile(optimizer="adam", loss="mse")
    km.fit(rng.normal(size=(8, 6)), rng.normal(size=(8, 3)), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km.save(tmp_path / "legacy.h5")
    model = saving.load_model(tmp_path / "legacy.h5")
    x = rng.normal(size=(5, 6)).astype("float32")
    np.testing.assert_allclose(_predict(model, [x]), _predict(km, [x]), atol=1e-6)
    assert model.optimizer.iterations == 1


# ----------------------------------------------------------------------------------- Lambda

def triple(x):
    return x * 3.0


def test_lambda_both_ways_with_custom_objects(tmp_path, rng):
    x = rng.normal(size=(4, 3)).astype("float32")
    km = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(triple), keras.layers.Dense(2)])
    km.save(tmp_path / "k.keras")
    with pytest.raises(saving.UnknownObjectError, match="triple"):
        saving.load_model(tmp_path / "k.keras")
    model = saving.load_model(tmp_path / "k.keras", custom_objects={"triple": triple})
    np.testing.assert_allclose(_predict(model, [x]), _predict(km, [x]), atol=1e-6)
    model.save(tmp_path / "s.keras")
    back = keras.saving.load_model(tmp_path / "s.keras", custom_objects={"triple": triple})
    np.testing.assert_allclose(_predict(back, [x]), _predict(model, [x]), atol=1e-6)


def test_keras_lambda_bytecode_is_refused(tmp_path):
    km = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t + 1.0)])
    km.save(tmp_path / "k.keras")
    for safe_mode in (True, False):
        with pytest.raises(saving.UnknownObjectError, match="never runs code"):
            saving.load_model(tmp_path / "k.keras", safe_mode=safe_mode)
    model = saving.load_model(tmp_path / "k.keras", custom_objects={km.layers[0].name: lambda t: t + 1.0})
    np.testing.assert_allclose(_predict(model, [np.ones((1, 3), "float32")]), 2.0)
