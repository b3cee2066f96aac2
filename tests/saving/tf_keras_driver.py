"""Runs under tf.keras 2's own interpreter (tensorflow + tf_keras), started by the interop tests.

    python tf_keras_driver.py write DIR    build, train one step, save every model of the table in all
                                           four file kinds into DIR; record predictions and the weights
                                           after one more step into DIR/tf_results.npz
    python tf_keras_driver.py extras DIR   save the MLP compiled with tf.keras 2's other optimizer, loss
                                           and metric spellings as '.h5' files, with the same records
    python tf_keras_driver.py read DIR     load every file shendu wrote into DIR; record predictions and
                                           the weights after one more step into DIR/tf_results.npz

    python tf_keras_driver.py zoo_write DIR / zoo_read DIR
                                           the same for a small model around each layer of LAYER_ZOO
                                           (predictions only)

Inputs come from DIR/data.npz; per-case errors go to DIR/tf_errors.json (the tests report them).
"""
from __future__ import annotations

import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")     # plain kernels: results do not depend on the CPU
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

import tf_keras_models as table  # noqa: E402

KINDS = ("keras", "h5", "weights", "json")


def _files(directory, name):
    return {"keras": os.path.join(directory, f"{name}.keras"), "h5": os.path.join(directory, f"{name}.h5"),
            "weights": os.path.join(directory, f"{name}_weights.h5"), "json": os.path.join(directory, f"{name}.json")}


def _eager(model):
    """Tiny models: running eagerly skips tf.function tracing, most of the driver's time otherwise."""
    model.run_eagerly = True
    return model


def _record(results, key, model, data, name, predict=True):
    _eager(model)
    if predict:
        x, _ = table.split(data, name, "test")
        preds = model.predict(x, verbose=0)
        for i, p in enumerate(preds if isinstance(preds, list) else [preds]):
            results[f"{key}/pred/{i}"] = np.asarray(p)
    table.drop_dropout(model)
    model.train_function = None            # traced with the old rate otherwise
    x, y = table.split(data, name, "more")
    model.train_on_batch(x, y)
    for path, w in table.layer_weights(model).items():
        results[f"{key}/w/{path}"] = w
    if not isinstance(model.optimizer, keras.optimizers.legacy.Optimizer):
        for i, v in enumerate(model.optimizer.variables[1:]):        # the slots, after the iteration count
            results[f"{key}/w/optimizer/{i}"] = v.numpy()
    results[f"{key}/iterations"] = np.asarray(int(model.optimizer.iterations.numpy()))


def write(directory, data, results, errors):
    for name, build in table.MODELS.items():
        keras.utils.set_random_seed(0)
        model, compile_args = build(keras)
        model.compile(**compile_args)
        x, y = table.split(data, name, "fit")
        _eager(model).train_on_batch(x, y)
        files = _files(directory, name)
        model.save(files["keras"])
        model.save(files["h5"])
        model.save_weights(files["weights"])
        with open(files["json"], "w") as f:
            f.write(model.to_json())
        _record(results, f"{name}/saved", model, data, name)           # same model: one more step
        fresh, compile_args = build(keras)
        fresh.load_weights(files["weights"])
        fresh.compile(**compile_args)
        _record(results, f"{name}/fresh", fresh, data, name, predict=False)   # weights only: a new optimizer


def _extras():
    """tf.keras 2's other spellings, in whole-model '.h5' files: its legacy optimizer classes (lr, decay,
    slots saved slot by slot), a learning-rate schedule, loss and metric objects."""
    legacy, schedules = keras.optimizers.legacy, keras.optimizers.schedules
    return {
        "legacy_adam": (lambda: legacy.Adam(lr=0.01, decay=0.05), "sparse_categorical_crossentropy", ["accuracy"]),
        "legacy_rmsprop": (lambda: legacy.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
                           "sparse_categorical_crossentropy", ["acc"]),
        "schedule": (lambda: keras.optimizers.Adam(schedules.ExponentialDecay(0.01, 3, 0.5)),
                     keras.losses.SparseCategoricalCrossentropy(), [keras.metrics.SparseCategoricalAccuracy()]),
        "sgd": (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]),
        "plain_sgd": (lambda: keras.optimizers.SGD(schedules.InverseTimeDecay(0.05, 1, 0.5)),
                      "sparse_categorical_crossentropy", ["acc"]),
    }


def write_extras(directory, data, results, errors):
    for name, (optimizer, loss, metrics) in _extras().items():
        keras.utils.set_random_seed(0)
        model = table.mlp(keras)[0]
        model.compile(optimizer=optimizer(), loss=loss, metrics=metrics)
        x, y = table.split(data, "mlp", "fit")
        _eager(model).train_on_batch(x, y)
        model.train_on_batch(x, y)
        model.save(os.path.join(directory, f"{name}.h5"))
        _record(results, name, model, data, "mlp")


def write_zoo(directory, data, results, errors):
    for layer in table.LAYER_ZOO:
        name = f"zoo_{layer}"
        try:
            model = table.zoo_model(keras, layer)
            model.save(os.path.join(directory, f"{name}.h5"))
            model.save(os.path.join(directory, f"{name}.keras"))
            with open(os.path.join(directory, f"{name}.json"), "w") as f:
                f.write(model.to_json())
            results[f"{name}/pred/0"] = model(data[f"{name}/test/x0"], training=False).numpy()
        except Exception:
            errors[name] = traceback.format_exc(limit=6)


def read_zoo(directory, data, results, errors):
    for layer in table.LAYER_ZOO:
        name = f"zoo_{layer}"
        for kind in ("h5", "keras", "json"):
            try:
                if kind == "json":
                    with open(os.path.join(directory, f"{name}.json")) as f:
                        model = keras.models.model_from_json(f.read())
                    model.load_weights(os.path.join(directory, f"{name}.h5"))
                else:
                    model = keras.models.load_model(os.path.join(directory, f"{name}.{kind}"))
                results[f"{name}/{kind}/pred/0"] = model(data[f"{name}/test/x0"], training=False).numpy()
            except Exception:
                errors[f"{name}/{kind}"] = traceback.format_exc(limit=6)


def read(directory, data, results, errors):
    for file in sorted(os.listdir(directory)):           # the MLP with tf.keras 2's legacy optimizers (decay=)
        if file.startswith("decay_") and file.endswith(".h5"):
            try:
                _record(results, file[:-3], keras.models.load_model(os.path.join(directory, file)), data, "mlp")
            except Exception:
                errors[file[:-3]] = traceback.format_exc(limit=6)
    for name, build in table.MODELS.items():
        files = _files(directory, name)
        for kind in KINDS:
            try:
                if kind in ("keras", "h5"):
                    model = keras.models.load_model(files[kind])
                else:
                    if kind == "weights":
                        model, compile_args = build(keras)
                    else:
                        with open(files["json"]) as f:
                            model = keras.models.model_from_json(f.read())
                        compile_args = build(keras)[1]
                    model.load_weights(files["weights"])
                    model.compile(**compile_args)
                _record(results, f"{name}/{kind}", model, data, name)
            except Exception:
                errors[f"{name}/{kind}"] = traceback.format_exc(limit=6)


MODES = {"write": [write], "read": [read], "extras": [write_extras], "zoo_write": [write_zoo], "zoo_read": [read_zoo]}


def main():
    mode, directory = sys.argv[1], sys.argv[2]
    data = dict(np.load(os.path.join(directory, "data.npz")))
    results, errors = {}, {}
    for step in MODES[mode]:
        step(directory, data, results, errors)
    np.savez(os.path.join(directory, "tf_results.npz"), **results)
    with open(os.path.join(directory, "tf_errors.json"), "w") as f:
        json.dump(errors, f, indent=1)


if __name__ == "__main__":
    main()
