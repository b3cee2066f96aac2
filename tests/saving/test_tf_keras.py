"""tf.keras 2's schema without TensorFlow: ``to_json``/``model_from_json`` (also Keras 3's JSON),
``to_yaml``'s error, the ``format="tf_keras"`` ``.keras`` file read back, and what the conversions
write. Loading JSON never runs code. (tf.keras 2 itself reads these files in test_tf_keras2_interop.)"""
from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("h5py")

from shendu import keras  # noqa: E402
from shendu.saving import LoadError, UnknownObjectError, tf_keras, tf_keras_read  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import tf_keras_models as table  # noqa: E402


def _built(name):
    model, compile_args = table.MODELS[name](keras)
    model.compile(**compile_args)
    data = table.make_data()
    x, y = table.split(data, name, "fit")
    model.train_on_batch(x, y)
    return model, data


def _same_predictions(a, b, data, name):
    x, _ = table.split(data, name, "test")
    pa, pb = a.predict(x, verbose=0), b.predict(x, verbose=0)
    for p, q in zip(pa if isinstance(pa, list) else [pa], pb if isinstance(pb, list) else [pb]):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(table.MODELS))
def test_to_json_round_trip(name):
    model, data = _built(name)
    text = model.to_json()
    config = json.loads(text)
    assert config["class_name"] in ("Sequential", "Functional") and config["keras_version"].startswith("2.")
    rebuilt = keras.models.model_from_json(text)
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    rebuilt.set_weights(model.get_weights())
    _same_predictions(model, rebuilt, data, name)


def test_to_json_writes_tf_keras2_schema():
    model, _ = _built("gan")
    config = json.loads(model.to_json())["config"]
    noise, generator, discriminator = config["layers"]
    assert noise["config"]["batch_input_shape"] == [None, 4] and "batch_shape" not in noise["config"]
    assert generator["inbound_nodes"] == [[["noise", 0, 0, {}]]]
    assert discriminator["inbound_nodes"] == [[["generator", 1, 0, {}]]]     # nested models count from 1
    assert config["output_layers"] == [["discriminator", 1, 0]]
    act = generator["config"]["layers"][2]["config"]
    assert act["alpha"] == pytest.approx(0.2) and "negative_slope" not in act and act["dtype"] == "float32"


def test_model_from_json_reads_keras3_json():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    k3 = pytest.importorskip("keras")
    data = table.make_data()
    for name, build in table.MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = build(k3)[0]
        ours = keras.models.model_from_json(theirs.to_json())
        ours.set_weights(theirs.get_weights())
        _same_predictions(theirs, ours, data, name)


def test_to_yaml_raises_tf_keras2_error():
    model, _ = _built("mlp")
    with pytest.raises(RuntimeError, match=r"to_yaml\(\)` has been removed due to security risk"):
        model.to_yaml()


def test_model_from_json_never_runs_code():
    with pytest.raises(LoadError, match="not valid JSON"):
        keras.models.model_from_json("{not json")
    lambda_layer = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2], "name": "x"}},
        {"class_name": "Lambda", "config": {"name": "evil", "function": ["4wEAAAAA", None, None]}}]}}
    with pytest.raises(UnknownObjectError, match="never runs code"):
        keras.models.model_from_json(json.dumps(lambda_layer))
    unknown = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "os.system", "config": {"name": "x"}}]}}
    with pytest.raises(UnknownObjectError, match="custom_objects"):
        keras.models.model_from_json(json.dumps(unknown))


@pytest.mark.parametrize("name", ["cnn", "two_io", "gan"])
def test_tf_keras_format_round_trip(tmp_path, name):
    """A '.keras' file in tf.keras 2's schema loads back in shendu with its optimizer state."""
    model, data = _built(name)
    path = tmp_path / "m.keras"
    model.save(path, format="tf_keras")
    loaded = keras.models.load_model(path)
    _same_predictions(model, loaded, data, name)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 1
    for a, b in zip(loaded.optimizer.get_state(), model.optimizer.get_state()):
        np.testing.assert_array_equal(a, b)


def test_unknown_format_is_refused(tmp_path):
    model, _ = _built("mlp")
    with pytest.raises(ValueError, match="'tf_keras'"):
        model.save(tmp_path / "m.keras", format="tf2")


def test_tf_keras_archive_keeps_rate_in_config(tmp_path):
    import zipfile

    import h5py
    model, _ = _built("mlp")
    model.save(tmp_path / "m.keras", format="tf_keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
        weights = zf.read("model.weights.h5")
    assert meta["keras_version"] == tf_keras.TF_KERAS_VERSION
    optimizer = config["compile_config"]["optimizer"]
    assert optimizer["class_name"] == "Adam" and optimizer["config"]["learning_rate"] == pytest.approx(0.01)
    import io
    with h5py.File(io.BytesIO(weights), "r") as f:
        shapes = [f["optimizer/vars"][k].shape for k in sorted(f["optimizer/vars"], key=int)]
    assert shapes[0] == () and all(s != () for s in shapes[1:])       # iteration, then the slots only


def test_legacy_slot_order_is_regrouped():
    model, _ = _built("mlp")
    state = model.optimizer.get_state()                      # iteration, rate, m0, v0, m1, v1, ...
    slots = state[2:]
    names = ["Adam/iter:0"] + [f"Adam/w{i}/m:0" for i in range(4)] + [f"Adam/w{i}/v:0" for i in range(4)]
    arrays = [state[0]] + slots[0::2] + slots[1::2]           # tf.keras 2's legacy classes: slot by slot
    out = tf_keras_read.optimizer_arrays_from_file(model, names, arrays)
    assert len(out) == len(state)
    for a, b in zip(out[2:], slots):
        np.testing.assert_array_equal(a, b)
