"""register_keras_serializable and custom_object_scope: saved files name registered classes and functions
"package>Name" as Keras 3 does, and loading finds them without custom_objects (in both directions)."""
import numpy as np
import pytest

from shendu import keras as shendu_keras
from shendu.keras import saving


@saving.register_keras_serializable(package="RegistrationTest")
class Scale(shendu_keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@saving.register_keras_serializable(package="RegistrationTest", name="cube")
def cube(x):
    return x ** 3


def _model():
    inputs = shendu_keras.Input((3,))
    x = Scale(0.5)(inputs)
    x = shendu_keras.layers.Dense(2, activation=cube)(x)
    return shendu_keras.Model(inputs, x)


def test_registered_names_are_package_and_name():
    assert saving.get_registered_name(Scale) == "RegistrationTest>Scale"
    assert saving.get_registered_name(cube) == "RegistrationTest>cube"
    assert saving.get_registered_object("RegistrationTest>Scale") is Scale
    assert saving.get_custom_objects()["RegistrationTest>cube"] is cube
    assert saving.get_registered_name(shendu_keras.layers.Dense) == "Dense"
    with pytest.raises(ValueError, match="get_config"):
        saving.register_keras_serializable()(type("NoConfig", (), {}))


def test_a_registered_layer_and_activation_load_without_custom_objects(tmp_path):
    model = _model()
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = shendu_keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[1]) is Scale and loaded.layers[2].activation is cube
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    clone = shendu_keras.models.clone_model(model)
    assert clone.layers[2].activation is cube


def test_keras_loads_the_registered_layer_by_the_same_name(keras, tmp_path):
    inputs = shendu_keras.Input((3,))
    model = shendu_keras.Model(inputs, shendu_keras.layers.Dense(2)(Scale(3.0)(inputs)))
    model.save(tmp_path / "m.keras")

    @keras.saving.register_keras_serializable(package="RegistrationTest", name="Scale")
    class KerasScale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.ones((2, 3), "float32")
    assert isinstance(loaded.layers[1], KerasScale) and loaded.layers[1].factor == 3.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), model.predict(x, verbose=0), rtol=1e-6)


def test_custom_object_scope_lends_names_for_its_block(tmp_path):
    class Unregistered(shendu_keras.layers.Layer):
        def call(self, x):
            return x + 1.0

    inputs = shendu_keras.Input((2,))
    model = shendu_keras.Model(inputs, Unregistered()(inputs))
    model.save(tmp_path / "u.keras")
    with pytest.raises(Exception, match="Unregistered"):
        shendu_keras.models.load_model(tmp_path / "u.keras")
    with shendu_keras.utils.custom_object_scope({"Unregistered": Unregistered}):
        loaded = shendu_keras.models.load_model(tmp_path / "u.keras")
    assert type(loaded.layers[1]) is Unregistered
    assert "Unregistered" not in saving.get_custom_objects()
