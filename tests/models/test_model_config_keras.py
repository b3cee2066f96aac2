"""Sequential and Functional ``get_config()`` / ``from_config()`` against Keras 3's own, for the same models.

Each builder makes one model from a library's names (``keras`` or ``shendu.keras``), so the two configs
describe the same graph: nested models, a layer shared by two calls, several inputs and outputs.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import shendu.keras as sk


def nested_and_shared(lib):
    """Two inputs, one Dense called on both, a nested Sequential, two outputs."""
    L = lib.layers
    inner = lib.Sequential([lib.Input((6,)), L.Dense(5, name="inner_dense")], name="inner")
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    shared = L.Dense(6, activation="relu", name="shared")
    xa, xb = shared(a), shared(L.Dense(4, name="to_four")(b))
    y = inner(L.Dense(6, name="pre")(L.Concatenate(name="concat")([xa, xb])))
    return lib.Model([a, b], [L.Dense(2, name="out1")(y), L.Dense(1, name="out2")(xa)], name="multi")


def nested_functional_called_twice(lib):
    """A functional model used as a layer twice: its calls are numbered, and endpoints count from 1."""
    L = lib.layers
    i = lib.Input((3,), name="i")
    sub = lib.Model(i, L.Dense(3, name="sub_dense")(i), name="sub")
    x = lib.Input((3,), name="x")
    h = sub(x)
    return lib.Model(x, L.Add(name="add")([h, sub(L.Dense(3, name="back")(h))]), name="outer")


def dict_outputs(lib):
    L = lib.layers
    x = lib.Input((5,), name="x")
    h = L.Dense(4, activation="tanh", name="h")(x)
    return lib.Model(x, {"score": L.Dense(1, name="score")(h), "label": L.Dense(3, name="label")(h)}, name="dict")


def stack(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((5,)), L.Dense(4, activation="relu", name="d"), L.Dropout(0.5, name="drop"),
                           L.Dense(2, name="o")], name="stack")


BUILDERS = [nested_and_shared, nested_functional_called_twice, dict_outputs, stack]


def _comparable(config):
    """The config as JSON reads it back (tuples are lists), less what Keras writes and shendu does not:
    an empty ``compile_config`` of a nested, uncompiled model, a nested model's ``mask=None`` call
    argument, and the counter-numbered name Keras gives a Sequential's InputLayer (shendu: 'input_layer')."""
    config = json.loads(json.dumps(config))

    def clean(value):
        if isinstance(value, dict):
            layers = value.get("layers")
            if "input_layers" not in value and layers and isinstance(layers, list) and \
                    layers[0].get("class_name") == "InputLayer":           # a Sequential's config
                layers[0]["config"]["name"] = "input_layer"
            if value.get("compile_config") == {}:
                value.pop("compile_config")
            if isinstance(value.get("kwargs"), dict) and value["kwargs"].get("mask", 0) is None:
                value["kwargs"].pop("mask")
            for v in value.values():
                clean(v)
        elif isinstance(value, list):
            for v in value:
                clean(v)
    clean(config)
    return config


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_get_config_is_keras3s(keras, builder):
    assert _comparable(builder(sk).get_config()) == _comparable(builder(keras).get_config())


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_from_config_reads_keras3s_config_and_round_trips(keras, builder):
    keras_model, model = builder(keras), builder(sk)
    cls = sk.Sequential if isinstance(model, sk.Sequential) else sk.Model
    from_keras = cls.from_config(keras_model.get_config())
    assert type(from_keras) is type(model)
    assert _comparable(from_keras.get_config()) == _comparable(keras_model.get_config())
    again = type(model).from_config(model.get_config())
    assert again.get_config() == model.get_config()
    # the rebuilt graph computes what the original does, once it has the same weights
    again.set_weights(model.get_weights())
    shapes = [tuple(t.shape) for t in model.inputs]
    xs = [np.random.default_rng(i).normal(size=(2,) + s[1:]).astype("float32") for i, s in enumerate(shapes)]
    xs = xs[0] if len(xs) == 1 else xs
    expected, got = model.predict(xs, verbose=0), again.predict(xs, verbose=0)
    expected = expected if isinstance(expected, (list, dict)) else [expected]
    got = got if isinstance(got, (list, dict)) else [got]
    for key in (sorted(expected) if isinstance(expected, dict) else range(len(expected))):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6)


def test_shared_layer_is_one_layer_after_from_config():
    model = nested_and_shared(sk)
    rebuilt = sk.Model.from_config(model.get_config())
    shared = rebuilt.get_layer("shared")
    assert len(shared._inbound_nodes) == 2 and len(rebuilt.get_layer("inner").layers) == 1
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    assert len(rebuilt.weights) == len(model.weights)


def test_sequential_from_config_uses_custom_objects_for_its_layers():
    @sk.utils.register_keras_serializable(package="ConfigTest")
    class Twice(sk.layers.Layer):
        def call(self, x):
            return x * 2.0

    model = sk.Sequential([sk.Input((3,)), Twice(name="twice")])
    config = model.get_config()
    rebuilt = sk.Sequential.from_config(config)
    assert isinstance(rebuilt.layers[0], Twice)
    np.testing.assert_allclose(rebuilt.predict(np.ones((1, 3), "float32"), verbose=0), 2.0)
