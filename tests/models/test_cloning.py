"""keras.models.clone_model: the same architecture with new layers, for Sequential, functional and subclassed
models, with clone_function, call_function and input_tensors (Keras 3 is the oracle for the structure)."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu import keras


def functional(lib):
    inp = lib.Input(shape=(4,), name="x")
    shared = lib.layers.Dense(3, activation="relu", name="shared")
    out = lib.layers.Add(name="add")([shared(inp), shared(inp)])
    return lib.Model(inp, lib.layers.Dense(2, name="head")(out), name="net")


def test_clone_of_a_functional_model_has_new_layers_and_the_same_graph(keras):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    for lib in (shendu.keras, keras):
        model = functional(lib)
        clone = lib.models.clone_model(model)
        assert [l.name for l in clone.layers] == [l.name for l in model.layers]
        assert all(a is not b for a, b in zip(clone.layers, model.layers))
        assert len(clone.get_layer("shared")._inbound_nodes) == 2        # the shared layer is still shared
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert clone.name == "net"


def test_clone_of_a_sequential_model_keeps_its_input_shape():
    model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(3), keras.layers.Dropout(0.5)])
    clone = keras.models.clone_model(model)
    assert clone.input_shape == (None, 5) and clone.output.shape == (None, 3)
    assert [type(l).__name__ for l in clone.layers] == ["Dense", "Dropout"]
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])       # fresh weights
    bare = keras.models.clone_model(keras.Sequential([keras.layers.Dense(2)]))
    assert not bare.built


def test_clone_function_and_input_tensors():
    model = functional(keras)
    renamed = keras.models.clone_model(
        model, clone_function=lambda layer: type(layer).from_config({**layer.get_config(),
                                                                     "name": layer.name + "_copy"}))
    assert [l.name for l in renamed.layers[1:]] == ["shared_copy", "add_copy", "head_copy"]
    new_input = keras.Input(shape=(4,), name="other")
    on_new = keras.models.clone_model(model, input_tensors=new_input)
    assert on_new.inputs == [new_input]
    with pytest.raises(ValueError, match="1 input"):
        keras.models.clone_model(model, input_tensors=[new_input, keras.Input(shape=(4,))])


def test_call_function_wraps_each_layer_call():
    calls = []

    def call_function(layer, *args, **kwargs):
        calls.append(layer.name)
        return layer(*args, **kwargs)

    keras.models.clone_model(functional(keras), call_function=call_function)
    assert calls == ["shared", "shared", "add", "head"]


def test_clone_of_a_subclassed_model_uses_its_config():
    class Small(keras.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = keras.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    clone = keras.models.clone_model(Small(units=5))
    assert isinstance(clone, Small) and clone.units == 5
    with pytest.raises(ValueError, match="input_tensors"):
        keras.models.clone_model(Small(), input_tensors=keras.Input(shape=(2,)))
