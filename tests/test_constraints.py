"""keras.constraints: the projections, their names and configs, the layers that take them, the optimizer
applying them after each update, and their round trip through .keras files."""
from __future__ import annotations

import numpy as np
import pytest

from shendu import keras
from shendu.keras import constraints, layers

W = np.array([[3.0, 4.0], [0.0, 1e-9], [1.0, -2.0]], "float32")
EPS = 1e-7


def col_norms(w, axis=0):
    return np.sqrt((np.asarray(w, "float64") ** 2).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("constraint,reference", [
    (constraints.MaxNorm(2.0), lambda w: w * np.clip(col_norms(w), 0, 2.0) / (EPS + col_norms(w))),
    (constraints.MaxNorm(1.0, axis=[0, 1]),
     lambda w: w * np.clip(col_norms(w, (0, 1)), 0, 1.0) / (EPS + col_norms(w, (0, 1)))),
    (constraints.NonNeg(), lambda w: np.maximum(w, 0)),
    (constraints.UnitNorm(axis=1), lambda w: w / (EPS + col_norms(w, 1))),
    (constraints.MinMaxNorm(0.5, 1.0, rate=0.7),
     lambda w: w * (0.7 * np.clip(col_norms(w), 0.5, 1.0) + 0.3 * col_norms(w)) / (EPS + col_norms(w))),
], ids=["max_norm", "max_norm_two_axes", "non_neg", "unit_norm", "min_max_norm"])
def test_constraint_projects_as_its_formula_says(constraint, reference):
    out = constraint(W)
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_allclose(np.asarray(out), reference(W), rtol=1e-6, atol=1e-9)


def test_constraint_names_classes_and_configs_follow_keras():
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("unit_norm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.serialize(constraints.MaxNorm(1.5)) == {
        "module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 1.5, "axis": 0},
        "registered_name": None}
    assert constraints.serialize(constraints.MinMaxNorm())["config"] == {
        "min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert constraints.serialize(constraints.NonNeg())["config"] == {}
    again = constraints.deserialize(constraints.serialize(constraints.UnitNorm(axis=[0, 1])))
    assert type(again) is constraints.UnitNorm and again.axis == [0, 1]
    assert constraints.get(None) is None
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg


def test_constraint_base_is_the_identity_and_subclasses_work():
    class Clip(constraints.Constraint):
        def __call__(self, w):
            return np.clip(np.asarray(w), -0.1, 0.1)
    np.testing.assert_array_equal(np.asarray(constraints.Constraint()(W)), W)
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, kernel_constraint=Clip())])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.full((4, 2), 10.0), epochs=2, verbose=0)
    assert np.abs(model.layers[0].get_weights()[0]).max() <= 0.1 + 1e-7


LAYERS = [
    (lambda c: layers.Dense(2, kernel_constraint=c, bias_constraint=c), (3,), ["kernel", "bias"]),
    (lambda c: layers.Conv1D(2, 3, kernel_constraint=c, bias_constraint=c), (6, 2), ["kernel", "bias"]),
    (lambda c: layers.Conv2D(2, 3, kernel_constraint=c, bias_constraint=c), (5, 5, 2), ["kernel", "bias"]),
    (lambda c: layers.Conv2DTranspose(2, 3, kernel_constraint=c), (4, 4, 2), ["kernel"]),
    (lambda c: layers.DepthwiseConv2D(3, depthwise_constraint=c, bias_constraint=c), (5, 5, 2),
     ["kernel", "bias"]),
    (lambda c: layers.SeparableConv2D(2, 3, depthwise_constraint=c, pointwise_constraint=c), (5, 5, 2),
     ["depthwise_kernel", "pointwise_kernel"]),
    (lambda c: layers.Embedding(5, 2, embeddings_constraint=c), (3,), ["embeddings"]),
    (lambda c: layers.BatchNormalization(beta_constraint=c, gamma_constraint=c), (3,), ["gamma", "beta"]),
    (lambda c: layers.LayerNormalization(beta_constraint=c, gamma_constraint=c), (3,), ["gamma", "beta"]),
    (lambda c: layers.SimpleRNN(2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (4, 3),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda c: layers.LSTM(2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (4, 3),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda c: layers.GRU(2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c), (4, 3),
     ["kernel", "recurrent_kernel", "bias"]),
    (lambda c: layers.PReLU(alpha_constraint=c), (3,), ["alpha"]),
    (lambda c: layers.MultiHeadAttention(1, 2, kernel_constraint=c, bias_constraint=c), None, []),
]


@pytest.mark.parametrize("make,shape,weights", LAYERS, ids=lambda v: "" if not callable(v) else None)
def test_layer_keeps_its_constraint_in_weights_and_config(make, shape, weights):
    layer = make("non_neg")
    keys = [k for k in layer.get_config() if k.endswith("_constraint")]
    assert keys
    for key in keys:
        if getattr(layer, key, None) is not None:
            assert layer.get_config()[key] == {"module": "keras.constraints", "class_name": "NonNeg",
                                               "config": {}, "registered_name": None}
    again = type(layer).from_config(layer.get_config())
    assert all(type(getattr(again, k)) is constraints.NonNeg for k in keys if getattr(layer, k) is not None)
    if shape is None:
        return
    x = np.random.default_rng(0).random((2,) + shape).astype("float32")
    if isinstance(layer, layers.Embedding):
        x = np.array([[0, 1, 4], [2, 3, 0]])
    layer(x)
    by_name = {w.name.split("/")[-1]: w for w in layer.weights}
    for name in weights:
        assert isinstance(by_name[name].constraint, constraints.NonNeg), name


def test_optimizer_applies_the_constraint_after_each_update():
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((3,)),
                              layers.Dense(4, kernel_constraint=constraints.MaxNorm(0.5), bias_constraint="non_neg"),
                              layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.5), "mse")
    model.fit(rng.random((16, 3)), rng.random((16, 1)) * 10 - 20, epochs=3, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    assert col_norms(kernel).max() <= 0.5 + 1e-6
    assert bias.min() >= 0
    # the initial kernel was not projected: constraints act after an update, not at creation
    fresh = layers.Dense(4, kernel_constraint=constraints.UnitNorm())
    fresh.build((None, 3))
    assert not np.allclose(col_norms(fresh.get_weights()[0]), 1.0)


def test_a_plain_function_is_a_constraint():
    def clip_small(w):
        return np.clip(np.asarray(w), -0.05, 0.05)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2, kernel_constraint=clip_small)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 2)), np.full((4, 2), 5.0), verbose=0)
    assert np.abs(model.layers[0].get_weights()[0]).max() <= 0.05 + 1e-7
    assert model.layers[0].get_config()["kernel_constraint"]["config"] == "clip_small"


def test_constraints_are_saved_and_loaded_with_a_keras_file(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(4, kernel_constraint=constraints.MaxNorm(0.7, axis=0)),
                              layers.BatchNormalization(gamma_constraint="non_neg"),
                              layers.Dense(1, bias_constraint=constraints.MinMaxNorm(0.1, 0.2, rate=0.5))])
    model.compile("sgd", "mse")
    path = tmp_path / "constrained.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].kernel_constraint.get_config() == {"max_value": 0.7, "axis": 0}
    assert type(loaded.layers[1].gamma_constraint) is constraints.NonNeg
    assert loaded.layers[2].bias_constraint.get_config() == {"min_value": 0.1, "max_value": 0.2, "rate": 0.5,
                                                             "axis": 0}
    loaded.compile("sgd", "mse")
    loaded.fit(np.ones((4, 3)), np.full((4, 1), 30.0), verbose=0)
    assert col_norms(loaded.layers[0].get_weights()[0]).max() <= 0.7 + 1e-6
