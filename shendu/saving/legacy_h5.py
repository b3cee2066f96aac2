"""Legacy ``.h5`` whole-model files (tf.keras 2, and Keras 3's ``model.save('x.h5')``): read and write.

A legacy whole-model file keeps the architecture as JSON in the root attribute ``model_config``,
the compile arguments in ``training_config``, and the weights in groups named after the layers::

    attrs: keras_version, backend, model_config = {"class_name": "Sequential", "config": {...}},
           training_config = {"loss", "metrics", ..., "optimizer_config": {"class_name", "config"}}
    model_weights/                  attrs: layer_names = [dense, dense_1, ...] (Keras's model.layers),
                                           backend, keras_version
      dense/                        attrs: weight_names = [sequential/dense/kernel, sequential/dense/bias]
        sequential/dense/kernel     one dataset per weight (the name is the variable's path, so it
                                    nests groups), trainable weights first, then non-trainable
      top_level_model_weights/      the model's own variables (usually none)
    optimizer_weights/              attrs: weight_names = [adam/iteration, adam/learning_rate,
                                           adam/sequential_dense_kernel_momentum, ...]

Keras 3 writes it as tf.keras 2 did, apart from the names: a variable's path is the name scope it
was built in, so a Sequential model's layers are prefixed with the model's name and a functional
model's are not; a slot variable is named after its variable's path with '/' turned into '_'.
Layer configs inside ``model_config`` are the legacy ``{"class_name", "config"}`` pairs (no
``module``/``registered_name``/``build_config``); objects nested in a layer's config keep Keras 3's
form, since each layer's ``get_config()`` writes them. Loading matches layers by position (the
i-th layer with weights in the file fills the i-th layer with weights), never by name.

``model.save('x.h5')`` writes tf.keras 2's own spelling of this file (``tf_keras.write_h5``: names
such as ``dense/kernel:0``, ``Custom>Adam``, the optimizer's variables without the learning rate),
which tf.keras 2, Keras 3 and shendu all load. Both spellings are read, and tf.keras 2's optimizer,
loss and metric spellings are understood (``tf_keras_read``).

A weights-only file (``save_weights('x.h5')`` in tf.keras 2) is the ``model_weights`` group alone,
at the root. Keras 3 no longer writes those (``save_weights`` requires ``.weights.h5``) but reads
them, and so does shendu. The weight groups are read and written by ``legacy_layout``, which the
writer (``tf_keras``) and ``weights_h5`` share with this module.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np

from shendu.saving import tf_keras, tf_keras_read
from shendu.saving.compile_config import compile_from_config
from shendu.saving.config import Context, LoadError, deserialize_model
from shendu.saving.files import is_h5py_file, open_h5, require_h5py, source_name, write_atomically
from shendu.saving.legacy_layout import name_list, read_legacy_weights, text
from shendu.saving.limits import parse_config_json
from shendu.saving.weights_h5 import load_optimizer_state

LEGACY_SAVE_WARNING = (
    "You are saving your model as an HDF5 file via `model.save()` or `keras.saving.save_model(model)`. "
    "This file format is considered legacy. We recommend using instead the native Keras format, "
    "e.g. `model.save('my_model.keras')` or `keras.saving.save_model(model, 'my_model.keras')`.")


class LegacyFormatWarning(UserWarning):
    """Saving in the legacy ``.h5`` format (Keras 3 logs the same advice)."""


# ----------------------------------------------------------------------------------- what to write

def is_legacy_target(filepath) -> bool:
    """Whether ``save_model`` should write the legacy format: an ``.h5``/``.hdf5`` path or an open h5py file."""
    if _is_h5py_file(filepath):
        return True
    if hasattr(filepath, "write"):
        return False
    return os.fspath(filepath).lower().endswith((".h5", ".hdf5"))


# ----------------------------------------------------------------------------------- writing

def legacy_model_bytes(model, include_optimizer: bool = True) -> bytes:
    """The whole legacy file as bytes (built in memory, so a failed save writes nothing)."""
    h5py = require_h5py("Saving a model as '.h5' needs h5py (the file is HDF5; or save to a '.keras' file)")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        tf_keras.write_h5(model, f, include_optimizer)
    return buffer.getvalue()


def save_legacy_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """``model.save('x.h5')``: the legacy whole-model HDF5 file in tf.keras 2's layout, with Keras 3's
    warning that the native ``.keras`` format is recommended. Written atomically, like ``.keras`` files.

    ``include_optimizer=False`` leaves out the compile settings and the optimizer's state (Keras
    writes ``training_config`` only with the optimizer)."""
    to_file = _is_h5py_file(filepath)
    if not to_file and os.fspath(filepath).lower().endswith(".weights.h5"):
        raise ValueError(f"Invalid filepath {source_name(filepath)}: '.weights.h5' names a weights-only file, but "
                         "model.save() writes the whole model. Use model.save_weights(path) for the weights, or "
                         "model.save('model.keras') (recommended) or model.save('model.h5') for the whole model.")
    warnings.warn(LEGACY_SAVE_WARNING, LegacyFormatWarning, stacklevel=4)
    if not model.built:
        warnings.warn(f"Saving model '{model.name}', which has not been built yet: the file holds no weights. "
                      "Build it first (call it on data, or start with an Input) to save its weights.", stacklevel=4)
    if to_file:
        tf_keras.write_h5(model, filepath, include_optimizer)
        return
    data = legacy_model_bytes(model, include_optimizer)
    directory = os.path.dirname(os.fspath(filepath))
    if directory and not os.path.exists(directory):
        os.makedirs(directory, exist_ok=True)       # Keras creates the folder of a legacy file too
    write_atomically(filepath, data, overwrite)


_is_h5py_file = is_h5py_file


# ----------------------------------------------------------------------------------- reading

def load_legacy_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model from a legacy whole-model ``.h5`` file: architecture, weights, compile state."""
    name = source_name(filepath)
    with open_h5(filepath, name, "a Keras file") as f:
        if "model_config" not in f.attrs:
            raise LoadError(f"{name} has no 'model_config' attribute, so it holds weights only, not a model. Build "
                            "the model in code and call model.load_weights(path), or load a '.keras' file.")
        config = parse_config_json(text(f.attrs["model_config"]), f"{name}: the 'model_config' attribute")
        ctx = Context(custom_objects, safe_mode, source=f"{name} (model_config)")
        model = deserialize_model(config, custom_objects=ctx)
        weights = f["model_weights"] if "model_weights" in f else f
        read_legacy_weights(model, weights, name)
        training = f.attrs.get("training_config")
        if compile and training is not None:
            training = tf_keras_read.training_config_from_file(
                parse_config_json(text(training), f"{name}: the 'training_config' attribute"), model)
            compile_from_config(model, training, ctx)
            group = f.get("optimizer_weights")
            if group is not None and model.optimizer is not None:
                names = name_list(group, "weight_names")
                # h5py datasets, read only once their shapes are checked
                arrays = tf_keras_read.optimizer_arrays_from_file(model, names, [group[n] for n in names])
                _load_optimizer_weights(model, arrays, f"{name} (optimizer_weights)")
    return model


def _load_optimizer_weights(model, arrays: list, source: str) -> None:
    optimizer = model.optimizer
    scalars = 2 if isinstance(getattr(optimizer, "_learning_rate", None), float) else 1
    if 0 < len(arrays) <= scalars:
        if any(np.size(a) != 1 for a in arrays):      # np.size reads the declared shape, not the data
            warnings.warn(f"Skipping the optimizer state in {source}: its iteration count and learning rate "
                          f"should be scalars but have shapes {[np.shape(a) for a in arrays]}.", stacklevel=3)
            return
        # only the iteration count and the rate: saved before the first step, or by Keras 3 from a
        # model it had itself loaded from '.h5' (its loader keeps the count and drops the slots);
        # restore what is there, the slots start fresh as they would in Keras
        optimizer.iterations = int(np.asarray(arrays[0]))
        if len(arrays) == 2:
            optimizer._learning_rate = float(np.asarray(arrays[1]))
        return
    load_optimizer_state(model, optimizer, arrays, source)


