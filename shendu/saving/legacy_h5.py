"""Reading legacy ``.h5`` files (tf.keras 2, and Keras 3's ``model.save('x.h5')``); shendu never writes them.

A legacy whole-model file keeps the architecture as JSON in the root attribute ``model_config``,
the compile arguments in ``training_config``, and the weights in groups named after the layers::

    model_weights/               attrs: layer_names = [dense, dense_1, ...]
      dense/                     attrs: weight_names = [dense/kernel:0, dense/bias:0]
        dense/kernel:0           one dataset per weight, in the layer's get_weights() order
    optimizer_weights/           attrs: weight_names = [adam/iteration, adam/learning_rate, ...]

A weights-only file (``save_weights('x.h5')`` in tf.keras 2) is the ``model_weights`` group alone,
at the root. Layers are matched to the file in order, layers without weights skipped, as tf.keras did.
"""
from __future__ import annotations

import json
import os

import numpy as np


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(group, key) -> list[str]:
    return [_text(n) for n in group.attrs.get(key, [])]


def load_legacy_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model from a legacy whole-model ``.h5`` file: architecture, weights, compile state."""
    import h5py

    from shendu.models.config import model_from_config
    from shendu.saving.config import Context, LoadError
    from shendu.saving.keras_file import compile_from_config
    from shendu.saving.weights_h5 import load_optimizer_state
    name = repr(os.fspath(filepath)) if not hasattr(filepath, "read") else "the file object"
    if not hasattr(filepath, "read") and not os.path.exists(os.fspath(filepath)):
        raise FileNotFoundError(f"No file at {name}.")
    try:
        f = h5py.File(filepath, "r")
    except OSError as e:
        raise LoadError(f"{name} is not a readable HDF5 file ({e}); it is truncated or not a Keras file.") from e
    with f:
        if "model_config" not in f.attrs:
            raise LoadError(f"{name} has no 'model_config' attribute, so it holds weights only, not a model. Build "
                            "the model in code and call model.load_weights(path), or load a '.keras' file.")
        try:
            config = json.loads(_text(f.attrs["model_config"]))
        except json.JSONDecodeError as e:
            raise LoadError(f"{name}: the 'model_config' attribute is not valid JSON ({e}).") from e
        ctx = Context(custom_objects, safe_mode, source=f"{name} (model_config)")
        model = model_from_config(config, custom_objects=ctx)
        weights = f["model_weights"] if "model_weights" in f else f
        read_legacy_weights(model, weights, name)
        training = f.attrs.get("training_config")
        if compile and training is not None:
            training = json.loads(_text(training))
            training["optimizer"] = training.pop("optimizer_config", None)
            compile_from_config(model, training, ctx)
            group = f.get("optimizer_weights")
            if group is not None and model.optimizer is not None:
                arrays = [np.asarray(group[n]) for n in _names(group, "weight_names")]
                load_optimizer_state(model, model.optimizer, arrays, f"{name} (optimizer_weights)")
    return model


def read_legacy_weights(model, group, source: str, skip_mismatch: bool = False) -> None:
    """tf.keras's ``load_weights_from_hdf5_group``: the i-th file layer with weights fills the i-th
    model layer with weights, each in ``get_weights()`` order."""
    import warnings

    from shendu.models.config import keras_layer_order
    from shendu.saving.config import LoadError
    if "model_weights" in group and "layer_names" not in group.attrs:
        group = group["model_weights"]
    file_layers = [(n, _names(group[n], "weight_names")) for n in _names(group, "layer_names")
                   if n != "top_level_model_weights"]
    file_layers = [(n, w) for n, w in file_layers if w]
    layers = [l for l in keras_layer_order(model) if l.weights]
    if len(file_layers) != len(layers):
        raise LoadError(f"{source} holds weights for {len(file_layers)} layer(s) {[n for n, _ in file_layers]} but "
                        f"model '{model.name}' has {len(layers)} layer(s) with weights {[l.name for l in layers]}. "
                        "Legacy files are matched layer by layer: build the same architecture.")
    pending = []
    for layer, (layer_name, weight_names) in zip(layers, file_layers):
        arrays = [np.asarray(group[layer_name][w]) for w in weight_names]
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        if expected != found:
            message = (f"layer '{layer.name}' ({type(layer).__name__}) expects weights of shapes {expected} but "
                       f"{source} has {found} for layer '{layer_name}' ({weight_names})")
            if not skip_mismatch:
                raise LoadError(f"Cannot load the weights: {message}. Build the same architecture, or pass "
                                "skip_mismatch=True to keep this layer's current weights.")
            warnings.warn(f"Skipping {message}.", stacklevel=3)
            continue
        pending.append((layer, arrays))
    for layer, arrays in pending:
        layer.set_weights(arrays)
