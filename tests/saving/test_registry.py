"""saving/ depends only downward: models put their classes in saving's one registry, saving finds them by name."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import shendu.keras as sk
from shendu.models import Functional, Model, Sequential
from shendu.saving import deserialize_keras_object, layer_registry, registry, serialize_keras_object

ROOT = Path(__file__).resolve().parents[2]

# shendu.saving imported with none of shendu loaded (the top-level package, which imports everything,
# replaced by an empty namespace): a layer goes to its config and back without shendu.models loading
SAVING_ALONE = """
import importlib.util, sys, types
spec = importlib.util.find_spec("shendu")
top = types.ModuleType("shendu")
top.__path__, top.__spec__, top.__file__ = spec.submodule_search_locations, spec, spec.origin
sys.modules["shendu"] = top
from shendu import saving
from shendu.layers import Dense
config = saving.serialize_keras_object(Dense(3, activation="relu", name="d"))
layer = saving.deserialize_keras_object(config)
assert type(layer).__name__ == "Dense" and layer.units == 3, layer
assert saving.registry.model_class("Sequential") is None
loaded = sorted(name for name in sys.modules if name.startswith("shendu.models"))
print(loaded)
sys.exit(1 if loaded else 0)
"""


def test_saving_alone_does_not_import_models():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", SAVING_ALONE], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_saving_module_imports_models():
    found = []
    for path in sorted((ROOT / "shendu" / "saving").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.ImportFrom) and node.module == "shendu":
                names = [f"shendu.{a.name}" for a in node.names]
            found += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.startswith("shendu.models")]
    assert not found, found


def test_models_register_their_classes_by_name():
    assert registry.model_class("Sequential") is Sequential
    assert registry.model_class("Functional") is Functional
    assert registry.model_class("Model") is Model
    table = layer_registry()
    assert table["Sequential"] is Sequential and table["Functional"] is Functional and table["Dense"] is sk.layers.Dense
    assert registry.model_class("NoSuchModel") is None


def test_registered_classes_say_how_they_are_written():
    inputs = sk.Input((3,))
    functional = sk.Model(inputs, sk.layers.Dense(2)(inputs))
    sequential = sk.Sequential([sk.Input((3,)), sk.layers.Dense(2)])

    class Stack(sk.Sequential):
        pass

    assert registry.written_as(sequential) == ("Sequential", "keras", None)
    assert registry.written_as(Stack([sk.layers.Dense(1)])) == ("Sequential", "keras", None)
    assert registry.written_as(functional) == ("Functional", "keras.src.models.functional", "Functional")
    assert registry.written_as(sk.layers.Dense(2)) is None
    entry = serialize_keras_object(functional)
    assert (entry["module"], entry["class_name"], entry["registered_name"]) == \
        ("keras.src.models.functional", "Functional", "Functional")
    assert entry["build_config"] == {"input_shape": None}
    assert serialize_keras_object(sequential)["build_config"] == {"input_shape": [None, 3]}


def test_a_model_config_names_its_class_and_saving_rebuilds_it():
    inputs = sk.Input((3,), name="x")
    model = sk.Model(inputs, sk.layers.Dense(2, name="d")(inputs))
    for entry in (serialize_keras_object(model), {**serialize_keras_object(model), "class_name": "Model"}):
        rebuilt = deserialize_keras_object(entry)
        assert type(rebuilt) is Functional and rebuilt.get_config() == model.get_config()
    stack = sk.Sequential([sk.Input((3,)), sk.layers.Dense(2, name="d")])
    rebuilt = deserialize_keras_object(serialize_keras_object(stack))
    rebuilt.set_weights(stack.get_weights())
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), stack.predict(x, verbose=0))


def test_a_sequential_subclass_rebuilds_as_itself():
    class Stack(sk.Sequential):
        pass

    model = Stack([sk.Input((3,)), sk.layers.Dense(2)])
    assert type(Stack.from_config(model.get_config())) is Stack


# without shendu.models loaded, a model config gets an error that says which import registers the classes
MODEL_WITHOUT_MODELS = SAVING_ALONE.split("from shendu.layers")[0] + """
try:
    saving.deserialize_model({"class_name": "Sequential", "config": {"layers": []}})
except saving.LoadError as e:
    print(e)
    sys.exit(0 if "shendu.models is imported" in str(e) else 1)
sys.exit(1)
"""


def test_a_model_config_before_models_are_imported_names_the_import():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", MODEL_WITHOUT_MODELS], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
