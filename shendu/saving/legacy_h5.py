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
them, and so does shendu.
"""
from __future__ import annotations

import io
import json
import os
import warnings

import numpy as np

from shendu.saving import tf_keras, tf_keras_read
from shendu.saving.limits import parse_config_json

# the ``backend`` attribute names the Keras backend that wrote the file; shendu computes with NumPy,
# which is also the name of Keras 3's own NumPy backend (Keras reads the attribute but ignores it)
BACKEND = "numpy"
HDF5_OBJECT_HEADER_LIMIT = 64512        # bytes an HDF5 attribute may hold; longer name lists are chunked
LEGACY_SAVE_WARNING = (
    "You are saving your model as an HDF5 file via `model.save()` or `keras.saving.save_model(model)`. "
    "This file format is considered legacy. We recommend using instead the native Keras format, "
    "e.g. `model.save('my_model.keras')` or `keras.saving.save_model(model, 'my_model.keras')`.")


class LegacyFormatWarning(UserWarning):
    """Saving in the legacy ``.h5`` format (Keras 3 logs the same advice)."""


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(group, key) -> list[str]:
    """A name-list attribute, also when it was split into ``key0``, ``key1``, ... chunks."""
    if key in group.attrs:
        return [_text(n) for n in group.attrs[key]]
    names, chunk = [], 0
    while f"{key}{chunk}" in group.attrs:
        names.extend(_text(n) for n in group.attrs[f"{key}{chunk}"])
        chunk += 1
    return names


def _source(filepath) -> str:
    return repr(os.fspath(filepath)) if not hasattr(filepath, "read") else "the file object"


# ----------------------------------------------------------------------------------- what to write

def is_legacy_target(filepath) -> bool:
    """Whether ``save_model`` should write the legacy format: an ``.h5``/``.hdf5`` path or an open h5py file."""
    try:
        import h5py      # optional dependency, imported on first use
        if isinstance(filepath, h5py.File):
            return True
    except ImportError:
        pass
    if hasattr(filepath, "write"):
        return False
    return os.fspath(filepath).lower().endswith((".h5", ".hdf5"))


def legacy_weights(layer) -> list:
    """tf.keras's weight order for legacy files: trainable weights, then non-trainable ones."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _model_layers(model) -> list:
    """Keras's ``model.layers``: a Sequential's layers (no InputLayer), a functional model's
    layers in Keras's graph order (InputLayers included)."""
    from shendu.models.config import keras_layer_order
    return [l for l in keras_layer_order(model) if l is not model]


def _is_model(layer) -> bool:
    from shendu.models import Functional, Sequential
    return isinstance(layer, (Sequential, Functional))


def weight_paths(model) -> dict[int, str]:
    """id(weight) -> the variable path Keras 3 gives it, which legacy files use as the dataset name.

    Keras names a variable after the name scopes it was created in: a Sequential model builds its
    layers inside its own scope ("sequential/dense/kernel"); a functional model's layers are built
    as the graph is traced, outside any model scope ("dense/kernel"); a nested model keeps the
    paths it got when it was built (a nested Sequential with an Input: "inner/dense/kernel").
    """
    from shendu.models import Sequential
    paths: dict[int, str] = {}

    def visit(container):
        prefix = f"{container.name}/" if isinstance(container, Sequential) else ""
        for layer in _model_layers(container):
            if _is_model(layer):
                visit(layer)
                continue
            for w in layer.weights:
                path = str(getattr(w, "path", None) or f"{layer.name}/{getattr(w, 'name', 'variable')}")
                paths.setdefault(id(w), prefix + path)
        for w in _own_weights(container):
            paths.setdefault(id(w), prefix + str(getattr(w, "path", None) or getattr(w, "name", "variable")))

    visit(model)
    return paths


def _own_weights(model) -> list:
    """The model's own variables (not its layers'), trainable first: Keras's ``top_level_model_weights``."""
    own = list(getattr(model, "_own_weights", []))
    return [w for w in own if getattr(w, "trainable", True)] + [w for w in own if not getattr(w, "trainable", True)]


def _legacy_object(value):
    """A serialized loss/metric as Keras's legacy serializer writes it: a function by its name, an
    object as ``{"class_name", "config"}``; lists and per-output dicts keep their shape."""
    if isinstance(value, list):
        return [_legacy_object(v) for v in value]
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            if value["class_name"] == "function":
                return value.get("registered_name") or value["config"]
            return {"class_name": value.get("registered_name") or value["class_name"], "config": value["config"]}
        return {k: _legacy_object(v) for k, v in value.items()}
    return value


def _loss_full_names(value):
    """Loss aliases ('mse', 'mae', 'bce', 'kld', ...) as the function's full name. Keras 3 writes the
    alias as given, then cannot read it back (its legacy loader looks 'mse' up among the metrics and
    fails: "Could not deserialize 'keras.metrics.mse'"); the full name loads everywhere."""
    from shendu import losses
    if isinstance(value, str):
        fn = losses.ALL_OBJECTS.get(value)
        full = getattr(fn, "__name__", None)
        return full if not isinstance(fn, type) and full and losses.ALL_OBJECTS.get(full) is fn else value
    if isinstance(value, list):
        return [_loss_full_names(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _loss_full_names(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------------- writing

def _set_name_list(group, name: str, data: list[bytes]) -> None:
    """Keras's ``save_attributes_to_hdf5_group``: a list of byte strings as an attribute, split into
    ``name0``, ``name1``, ... when it is longer than an HDF5 object header allows."""
    too_long = [x for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise RuntimeError(f"The following attributes cannot be saved to HDF5 file because they are larger than "
                           f"{HDF5_OBJECT_HEADER_LIMIT} bytes: {too_long}")
    array = np.asarray(data)
    chunks = 1
    split = np.array_split(array, chunks)
    while any(x.nbytes > HDF5_OBJECT_HEADER_LIMIT for x in split):
        chunks += 1
        split = np.array_split(array, chunks)
    if chunks > 1:
        for i, chunk in enumerate(split):
            group.attrs[f"{name}{i}"] = chunk
    else:
        group.attrs[name] = data


def write_dataset(group, name: str, value) -> None:
    """One weight (a separate function so tests can make a save fail midway)."""
    value = np.asarray(value)
    dataset = group.create_dataset(name, value.shape, dtype=value.dtype)
    if value.shape:
        dataset[:] = value
    else:
        dataset[()] = value


def _unique_names(names: list[str]) -> list[str]:
    """Dataset names within one group must differ; a repeat gets ``_1``, ``_2``, ..."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            while f"{n}_{seen[n]}" in seen:
                seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


def _write_subset(group, weights: list, paths: dict[int, str]) -> None:
    """Keras's ``save_subset_weights_to_hdf5_group``: ``weight_names`` then one dataset per weight."""
    from shendu import backend
    names = _unique_names([paths.get(id(w)) or str(getattr(w, "path", None) or getattr(w, "name", "variable"))
                           for w in weights])
    _set_name_list(group, "weight_names", [n.encode("utf8") for n in names])
    for name, w in zip(names, weights):
        write_dataset(group, name, backend.to_numpy(w.data if hasattr(w, "data") else w))


def write_legacy_weights(group, model, paths: dict[int, str] | None = None) -> None:
    """Keras's ``save_weights_to_hdf5_group``: ``layer_names``, ``backend``, ``keras_version``, then
    one group per layer (created in name order) and ``top_level_model_weights``."""
    from shendu.saving.keras_file import KERAS_VERSION
    paths = weight_paths(model) if paths is None else paths
    layers = _model_layers(model)
    _set_name_list(group, "layer_names", [layer.name.encode("utf8") for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(layers, key=lambda l: l.name):
        _write_subset(group.create_group(layer.name), legacy_weights(layer), paths)
    _write_subset(group.create_group("top_level_model_weights"), _own_weights(model), paths)


def legacy_model_bytes(model, include_optimizer: bool = True) -> bytes:
    """The whole legacy file as bytes (built in memory, so a failed save writes nothing)."""
    from shendu.saving import weights_h5
    if weights_h5.h5py is None:
        raise ImportError("Saving a model as '.h5' needs h5py (the file is HDF5): pip install h5py, or save to a "
                          "'.keras' file.")
    buffer = io.BytesIO()
    with weights_h5.h5py.File(buffer, "w") as f:
        tf_keras.write_h5(model, f, include_optimizer)
    return buffer.getvalue()


def save_legacy_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """``model.save('x.h5')``: the legacy whole-model HDF5 file in tf.keras 2's layout, with Keras 3's
    warning that the native ``.keras`` format is recommended. Written atomically, like ``.keras`` files.

    ``include_optimizer=False`` leaves out the compile settings and the optimizer's state (Keras
    writes ``training_config`` only with the optimizer)."""
    from shendu.saving.keras_file import write_atomically
    to_file = _is_h5py_file(filepath)
    if not to_file and os.fspath(filepath).lower().endswith(".weights.h5"):
        raise ValueError(f"Invalid filepath {_source(filepath)}: '.weights.h5' names a weights-only file, but "
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


def _is_h5py_file(obj) -> bool:
    try:
        import h5py      # optional dependency, imported on first use
    except ImportError:
        return False
    return isinstance(obj, h5py.File)


# ----------------------------------------------------------------------------------- reading

def load_legacy_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model from a legacy whole-model ``.h5`` file: architecture, weights, compile state."""
    from shendu.models.config import model_from_config
    from shendu.saving.config import Context, LoadError
    from shendu.saving.keras_file import compile_from_config, open_h5
    name = _source(filepath)
    with open_h5(filepath, name, "a Keras file") as f:
        if "model_config" not in f.attrs:
            raise LoadError(f"{name} has no 'model_config' attribute, so it holds weights only, not a model. Build "
                            "the model in code and call model.load_weights(path), or load a '.keras' file.")
        config = parse_config_json(_text(f.attrs["model_config"]), f"{name}: the 'model_config' attribute")
        ctx = Context(custom_objects, safe_mode, source=f"{name} (model_config)")
        model = model_from_config(config, custom_objects=ctx)
        weights = f["model_weights"] if "model_weights" in f else f
        read_legacy_weights(model, weights, name)
        training = f.attrs.get("training_config")
        if compile and training is not None:
            training = tf_keras_read.training_config_from_file(
                parse_config_json(_text(training), f"{name}: the 'training_config' attribute"), model)
            compile_from_config(model, training, ctx)
            group = f.get("optimizer_weights")
            if group is not None and model.optimizer is not None:
                names = _names(group, "weight_names")
                # h5py datasets, read only once their shapes are checked
                arrays = tf_keras_read.optimizer_arrays_from_file(model, names, [group[n] for n in names])
                _load_optimizer_weights(model, arrays, f"{name} (optimizer_weights)")
    return model


def _load_optimizer_weights(model, arrays: list, source: str) -> None:
    from shendu.saving.weights_h5 import load_optimizer_state
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


def read_legacy_weights(model, group, source: str, skip_mismatch: bool = False) -> None:
    """tf.keras's ``load_weights_from_hdf5_group``: the i-th file layer with weights fills the i-th
    model layer with weights, trainable weights first, then non-trainable ones; then the model's own
    (``top_level_model_weights``). Everything is checked before anything is assigned."""
    from shendu import backend
    from shendu.saving.config import LoadError
    if "model_weights" in group and "layer_names" not in group.attrs:
        group = group["model_weights"]
    file_layers = [(n, _names(group[n], "weight_names")) for n in _names(group, "layer_names")
                   if n != "top_level_model_weights"]
    file_layers = [(n, w) for n, w in file_layers if w]
    layers = [l for l in _model_layers(model) if legacy_weights(l)]
    if len(file_layers) != len(layers):
        raise LoadError(f"{source} holds weights for {len(file_layers)} layer(s) {[n for n, _ in file_layers]} but "
                        f"model '{model.name}' has {len(layers)} layer(s) with weights {[l.name for l in layers]}. "
                        "Legacy files are matched layer by layer: build the same architecture.")
    pending = []
    targets = [(layer.name, type(layer).__name__, legacy_weights(layer), group[layer_name], layer_name,
                weight_names) for layer, (layer_name, weight_names) in zip(layers, file_layers)]
    top = group.get("top_level_model_weights")
    own = _own_weights(model)
    if own and top is not None and _names(top, "weight_names"):
        targets.append(("top-level model", type(model).__name__, own, top, "top_level_model_weights",
                        _names(top, "weight_names")))
    for label, kind, weights, layer_group, layer_name, weight_names in targets:
        datasets = [layer_group[w] for w in weight_names]
        expected = [tuple(w.shape) for w in weights]
        found = [tuple(d.shape) for d in datasets]     # the declared shapes: nothing is read before they match
        if expected != found:
            message = (f"layer '{label}' ({kind}) expects weights of shapes {expected} but "
                       f"{source} has {found} for layer '{layer_name}' ({weight_names})")
            if not skip_mismatch:
                raise LoadError(f"Cannot load the weights: {message}. Build the same architecture, or pass "
                                "skip_mismatch=True to keep this layer's current weights.")
            warnings.warn(f"Skipping {message}.", stacklevel=3)
            continue
        pending.extend(zip(weights, [np.asarray(d) for d in datasets]))
    for w, array in pending:
        w.data = backend.asarray(array).astype(w.dtype)
