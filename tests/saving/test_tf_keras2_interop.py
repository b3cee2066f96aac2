"""Model files both ways with tf.keras 2 itself: every model of the table (``tf_keras_models``) saved by
one framework in each file kind (``.keras``, whole-model ``.h5``, ``save_weights`` ``.h5``,
``to_json`` + weights) loads in the other with the same predictions, and one more ``train_on_batch``
(with the saved optimizer state where the file holds one) gives the same weights.

tf.keras 2 runs in its own interpreter (``tf_keras_driver.py``), named by ``SHENDU_TF_KERAS_PYTHON``
(default ``.venv-tfkeras/bin/python`` at the repository root; ``.ci/run`` creates it). shendu never
imports TensorFlow; without that interpreter these tests are skipped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("h5py")

from shendu import keras  # noqa: E402
from shendu.saving import tf_keras  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import tf_keras_models as table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.environ.get("SHENDU_TF_KERAS_PYTHON") or os.path.join(ROOT, ".venv-tfkeras", "bin", "python")
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_keras_driver.py")
KINDS = ("keras", "h5", "weights", "json")

pytestmark = pytest.mark.skipif(
    not os.path.exists(PYTHON),
    reason=f"tf.keras 2 is not installed: no interpreter at {PYTHON}. Create it with `python3 -m venv "
           ".venv-tfkeras && .venv-tfkeras/bin/pip install tensorflow-cpu tf_keras h5py` (as .ci/run does), "
           "or point SHENDU_TF_KERAS_PYTHON at a Python that has tf_keras.")


def _run_driver(mode: str, directory) -> tuple[dict, dict]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", PYTHONPATH="")
    proc = subprocess.run([PYTHON, DRIVER, mode, str(directory)], capture_output=True, text=True, env=env,
                          timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"the tf.keras 2 driver failed ({mode}):\n{proc.stderr[-4000:]}")
    with open(os.path.join(directory, "tf_errors.json")) as f:
        errors = json.load(f)
    return dict(np.load(os.path.join(directory, "tf_results.npz"))), errors


def _files(directory, name):
    return {"keras": os.path.join(directory, f"{name}.keras"), "h5": os.path.join(directory, f"{name}.h5"),
            "weights": os.path.join(directory, f"{name}_weights.h5"), "json": os.path.join(directory, f"{name}.json")}


def _predict(model, data, name) -> list:
    x, _ = table.split(data, name, "test")
    preds = model.predict(x, verbose=0)
    return [np.asarray(p) for p in (preds if isinstance(preds, list) else [preds])]


def _step(model, data, name) -> dict:
    """One more train_on_batch; then every layer's weights and the optimizer's slots (tf.keras 2's order)."""
    table.drop_dropout(model)
    x, y = table.split(data, name, "more")
    model.train_on_batch(x, y)
    out = table.layer_weights(model)
    if model.optimizer._state:     # SGD at momentum 0 has no state (tf.keras 2 keeps the last update, unused)
        for i, array in enumerate(tf_keras.optimizer_weights(model)[1][1:]):
            out[f"optimizer/{i}"] = array
    return out


def _check(results: dict, key: str, preds, weights: dict, iterations) -> None:
    if preds is not None:
        for i, p in enumerate(preds):
            np.testing.assert_allclose(p, results[f"{key}/pred/{i}"], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{key}: prediction {i}")
    expected = {k[len(key) + 3:]: v for k, v in results.items() if k.startswith(f"{key}/w/")}
    if not any(k.startswith("optimizer/") for k in expected):       # tf.keras 2's legacy classes: weights only
        weights = {k: v for k, v in weights.items() if not k.startswith("optimizer/")}
    if not any(k.startswith("optimizer/") for k in weights):
        expected = {k: v for k, v in expected.items() if not k.startswith("optimizer/")}
    assert sorted(weights) == sorted(expected), f"{key}: the layers' weights or optimizer slots differ in names"
    for path, w in expected.items():
        # slots hold gradients, which agree to float32 summation order (a conv through BatchNormalization:
        # ~1e-4 relative on the smallest entries, an entry 1/1000 of the slot's largest ~2e-4): the absolute
        # floor scales with the slot (second moments are small numbers)
        if path.startswith("optimizer/"):
            rtol, atol = 2e-4, max(1e-9, 1e-6 * float(np.abs(w).max(initial=0.0)))
        else:
            rtol, atol = 2e-5, 1e-6
        np.testing.assert_allclose(weights[path], w, rtol=rtol, atol=atol, err_msg=f"{key}: {path}")
    assert iterations == int(results[f"{key}/iterations"])


@pytest.fixture(scope="module")
def written_by_tf(tmp_path_factory):
    directory = tmp_path_factory.mktemp("from_tf_keras")
    data = table.make_data()
    np.savez(directory / "data.npz", **data)
    results, errors = _run_driver("write", directory)
    assert not errors, errors
    return directory, data, results


@pytest.fixture(scope="module")
def read_by_tf(tmp_path_factory):
    directory = tmp_path_factory.mktemp("to_tf_keras")
    data = table.make_data()
    np.savez(directory / "data.npz", **data)
    expected = {}
    for name, build in table.MODELS.items():
        keras.utils.set_random_seed(0)
        model, compile_args = build(keras)
        model.compile(**compile_args)
        x, y = table.split(data, name, "fit")
        model.train_on_batch(x, y)
        files = _files(directory, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(files["keras"], format="tf_keras")
            model.save(files["h5"])
            model.save_weights(files["weights"])
        with open(files["json"], "w") as f:
            f.write(model.to_json())
        preds = _predict(model, data, name)
        expected[f"{name}/saved"] = (preds, _step(model, data, name), model.optimizer.iterations)
        fresh = _load(files, "weights", name)          # weights only: the next step starts a new optimizer
        expected[f"{name}/fresh"] = (preds, _step(fresh, data, name), fresh.optimizer.iterations)
    for name, optimizer in DECAY.items():
        model = table.mlp(keras)[0]
        model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = table.split(data, "mlp", "fit")
        model.train_on_batch(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(directory / f"{name}.h5")
        preds = _predict(model, data, "mlp")
        expected[name] = (preds, _step(model, data, "mlp"), model.optimizer.iterations)
    results, errors = _run_driver("read", directory)
    return expected, results, errors


# tf.keras 2's decay= exists only in its legacy optimizer classes: saved as those (slots slot by slot)
DECAY = {"decay_adam": lambda: keras.optimizers.Adam(0.01, decay=0.05),
         "decay_rmsprop": lambda: keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True, decay=0.1)}


@pytest.mark.parametrize("name", list(DECAY))
def test_tf_keras2_resumes_shendu_decay(read_by_tf, name):
    expected, results, errors = read_by_tf
    assert name not in errors, errors[name]
    _check(results, name, *expected[name])


def _load(files, kind, name):
    if kind in ("keras", "h5"):
        return keras.models.load_model(files[kind])
    if kind == "weights":
        model, compile_args = table.MODELS[name](keras)
    else:
        with open(files["json"]) as f:
            model = keras.models.model_from_json(f.read())
        compile_args = table.MODELS[name](keras)[1]
    model.load_weights(files["weights"])
    model.compile(**compile_args)
    return model


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(table.MODELS))
def test_shendu_loads_tf_keras2_files(written_by_tf, name, kind):
    directory, data, results = written_by_tf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _load(_files(directory, name), kind, name)
    preds = _predict(model, data, name)
    for i, p in enumerate(preds):
        np.testing.assert_allclose(p, results[f"{name}/saved/pred/{i}"], rtol=1e-6, atol=1e-7)
    weights = _step(model, data, name)
    _check(results, f"{name}/{'saved' if kind in ('keras', 'h5') else 'fresh'}", None, weights,
           model.optimizer.iterations)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(table.MODELS))
def test_tf_keras2_loads_shendu_files(read_by_tf, name, kind):
    expected, results, errors = read_by_tf
    assert f"{name}/{kind}" not in errors, errors[f"{name}/{kind}"]
    preds, weights, iterations = expected[f"{name}/{'saved' if kind in ('keras', 'h5') else 'fresh'}"]
    _check(results, f"{name}/{kind}", preds, weights, iterations)


EXTRAS = ("legacy_adam", "legacy_rmsprop", "schedule", "sgd", "plain_sgd")


@pytest.fixture(scope="module")
def extras_by_tf(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tf_keras_spellings")
    data = table.make_data()
    np.savez(directory / "data.npz", **data)
    results, errors = _run_driver("extras", directory)
    assert not errors, errors
    return directory, data, results


@pytest.mark.parametrize("name", EXTRAS)
def test_shendu_resumes_tf_keras2_optimizers(extras_by_tf, name):
    """Legacy optimizer classes (lr, decay, slots saved slot by slot), a schedule, loss and metric objects:
    the loaded model predicts the same and its next step is tf.keras 2's."""
    directory, data, results = extras_by_tf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = keras.models.load_model(directory / f"{name}.h5")
    assert model.optimizer.iterations == 2
    _check(results, name, _predict(model, data, "mlp"), _step(model, data, "mlp"), model.optimizer.iterations)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Each framework saves a model around each layer of the zoo; the other loads it and predicts."""
    data = table.make_data()
    written = tmp_path_factory.mktemp("zoo_from_tf_keras")
    np.savez(written / "data.npz", **data)
    tf_results, errors = _run_driver("zoo_write", written)
    assert not errors, errors
    directory = tmp_path_factory.mktemp("zoo_to_tf_keras")
    np.savez(directory / "data.npz", **data)
    expected = {}
    for layer in table.LAYER_ZOO:
        name = f"zoo_{layer}"
        model = table.zoo_model(keras, layer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(directory / f"{name}.h5")
            model.save(directory / f"{name}.keras", format="tf_keras")
        (directory / f"{name}.json").write_text(model.to_json())
        expected[name] = np.asarray(model.predict(data[f"{name}/test/x0"], verbose=0))
    results, errors = _run_driver("zoo_read", directory)
    return data, written, tf_results, expected, results, errors


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["h5", "keras", "json"])
@pytest.mark.parametrize("layer", list(table.LAYER_ZOO))
def test_each_layer_both_ways(zoo, layer, kind):
    """A model around each layer both frameworks have: tf.keras 2 loads shendu's file and predicts the
    same, and shendu loads tf.keras 2's."""
    name = f"zoo_{layer}"
    data, directory, tf_results, expected, results, errors = zoo
    assert f"{name}/{kind}" not in errors, errors[f"{name}/{kind}"]
    np.testing.assert_allclose(results[f"{name}/{kind}/pred/0"], expected[name], rtol=1e-6, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "json":
            model = keras.models.model_from_json((directory / f"{name}.json").read_text())
            model.load_weights(directory / f"{name}.h5")
        else:
            model = keras.models.load_model(directory / f"{name}.{kind}")
    np.testing.assert_allclose(model.predict(data[f"{name}/test/x0"], verbose=0), tf_results[f"{name}/pred/0"],
                               rtol=1e-6, atol=1e-6)
