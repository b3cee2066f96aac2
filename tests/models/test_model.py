"""Model construction: a subclass of Model built functionally, attributes set before super().__init__(),
keras.__version__."""
from __future__ import annotations

import numpy as np
import pytest

import shendu
from shendu import keras


def test_subclass_called_with_inputs_and_outputs_is_functional_and_keeps_its_train_step():
    """keras-io guides/customizing_what_happens_in_fit.py: class CustomModel(keras.Model) with train_step,
    then CustomModel(inputs, outputs)."""
    steps = []

    class CustomModel(keras.Model):
        def train_step(self, data):
            steps.append(len(data))
            return super().train_step(data)

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    assert isinstance(model, CustomModel) and isinstance(model, keras.Model)
    assert type(model).__name__ == "CustomModel" and model.layers[1].name == outputs.node.layer.name
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x, y = np.random.random((64, 32)), np.random.random((64, 1))
    history = model.fit(x, y, epochs=2, verbose=0)
    assert steps == [2] * 4 and sorted(history.history) == ["loss", "mae"]
    assert model.predict(x[:3], verbose=0).shape == (3, 1)


def test_subclass_with_its_own_init_may_pass_inputs_and_outputs_on():
    class Named(keras.Model):
        def __init__(self, inputs, outputs, tag, **kwargs):
            self.tag = tag                          # set before super().__init__(), as Keras allows
            super().__init__(inputs, outputs, **kwargs)

    inputs = keras.Input(shape=(3,))
    model = Named(inputs, keras.layers.Dense(2)(inputs), "v1", name="named")
    assert model.tag == "v1" and model.name == "named" and model.output_shape == (None, 2)


def test_subclass_taking_two_non_tensor_arguments_stays_subclassed():
    class Pair(keras.Model):
        def __init__(self, first, second):
            super().__init__()
            self.first, self.second = first, second

        def call(self, x):
            return self.second(self.first(x))

    model = Pair(keras.layers.Dense(4), keras.layers.Dense(1))
    assert model(np.ones((2, 3), "float32")).shape == (2, 1) and len(model.weights) == 4


@pytest.mark.parametrize("base", [keras.layers.Layer, keras.Model])
def test_attributes_set_before_super_init_are_kept_and_tracked(base):
    class Early(base):
        def __init__(self):
            self.units = 3
            self.inner = keras.layers.Dense(2)
            self.tracker = keras.metrics.Mean(name="tracked")
            super().__init__()

        def call(self, x):
            return self.inner(x)

    layer = Early()
    layer(np.ones((1, 4), "float32"))
    assert layer.units == 3 and len(layer.weights) == 2
    assert [m.name for m in layer.metrics] == ["tracked"]


def test_keras_version_is_a_keras_3_version_string():
    major, minor = shendu.keras.__version__.split(".")[:2]
    assert major == "3" and minor.isdigit()


def test_functional_subclass_saves_under_its_class_and_loads_with_it(tmp_path):
    class TwoOptimizers(keras.Model):
        def compile(self, extra_optimizer, **kwargs):
            super().compile(**kwargs)
            self.extra_optimizer = extra_optimizer

    inputs = keras.Input(shape=(3,))
    model = TwoOptimizers(inputs, keras.layers.Dense(2)(inputs))
    model.compile("adam", optimizer="sgd", loss="mse")
    path = str(tmp_path / "two.keras")
    model.save(path)
    with pytest.warns(UserWarning, match="overrides compile"):
        loaded = keras.models.load_model(path, custom_objects={"TwoOptimizers": TwoOptimizers})
    assert isinstance(loaded, TwoOptimizers) and not loaded.compiled
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(Exception, match="custom_objects"):
        keras.models.load_model(path)


def test_using_the_layer_before_super_init_says_what_to_move():
    class TooEarly(keras.layers.Layer):
        def __init__(self):
            self.kernel = self.add_weight(shape=(2, 2))
            super().__init__()

    with pytest.raises(AttributeError, match=r"Call super\(\).__init__\(...\) first in TooEarly.__init__"):
        TooEarly()


def test_a_replaced_metric_attribute_is_no_longer_listed():
    class Tracked(keras.Model):
        def __init__(self):
            super().__init__()
            self.tracker = keras.metrics.Mean(name="first")
            self.tracker = keras.metrics.Mean(name="second")

    assert [m.name for m in Tracked().metrics] == ["second"]


def test_predict_keeps_the_structure_of_the_outputs():
    class TwoHeads(keras.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = keras.layers.Dense(2), keras.layers.Dense(1)

        def call(self, x):
            return {"a": self.a(x)}, self.b(x)

    out = TwoHeads().predict(np.ones((5, 3), "float32"), batch_size=2, verbose=0)
    assert isinstance(out, tuple) and set(out[0]) == {"a"}
    assert out[0]["a"].shape == (5, 2) and out[1].shape == (5, 1)


def test_model_from_config_rebuilds_functional_sequential_and_functional_subclasses(keras):
    x = np.ones((2, 4), "float32")
    for lib in (shendu.keras, keras):
        inputs = lib.Input(shape=(4,))
        model = lib.Model(inputs, lib.layers.Dense(2)(inputs))
        rebuilt = lib.Model.from_config(model.get_config())
        assert tuple(rebuilt.output.shape) == (None, 2)
        sequential = lib.Sequential([lib.Input(shape=(4,)), lib.layers.Dense(3)])
        assert lib.Sequential.from_config(sequential.get_config()).predict(x, verbose=0).shape == (2, 3)

    class Custom(shendu.keras.Model):
        pass

    inputs = shendu.keras.Input(shape=(4,))
    custom = Custom(inputs, shendu.keras.layers.Dense(5)(inputs))
    again = Custom.from_config(custom.get_config())
    assert isinstance(again, Custom) and again.predict(x, verbose=0).shape == (2, 5)
