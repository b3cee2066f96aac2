"""The legacy ``.h5`` layout, shared by its writer (``tf_keras``) and its reader (``legacy_h5``), and by
``load_weights`` of a tf.keras 2 weights file (``weights_h5``).

A legacy file keeps the weights in one group per layer, listed in the ``layer_names`` attribute in
Keras's ``model.layers`` order; each group lists its datasets in ``weight_names`` (trainable weights
first, then non-trainable ones), named after the variable's path::

    model_weights/                  attrs: layer_names = [dense, dense_1, ...], backend, keras_version
      dense/                        attrs: weight_names = [sequential/dense/kernel, sequential/dense/bias]
        sequential/dense/kernel     one dataset per weight (the name nests groups)
      top_level_model_weights/      the model's own variables (usually none)

Keras 3 writes it as tf.keras 2 did, apart from the names: a variable's path is the name scope it
was built in, so a Sequential model's layers are prefixed with the model's name and a functional
model's are not. Loading matches layers by position (the i-th layer with weights in the file fills
the i-th layer with weights), never by name.
"""
from __future__ import annotations

import warnings

import numpy as np

from shendu import backend, losses
from shendu.saving.config import LoadError
from shendu.saving.files import KERAS_VERSION
from shendu.saving.registry import is_model

# the ``backend`` attribute names the Keras backend that wrote the file; shendu computes with NumPy,
# which is also the name of Keras 3's own NumPy backend (Keras reads the attribute but ignores it)
BACKEND = "numpy"
HDF5_OBJECT_HEADER_LIMIT = 64512        # bytes an HDF5 attribute may hold; longer name lists are chunked
def text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def name_list(group, key) -> list[str]:
    """A name-list attribute, also when it was split into ``key0``, ``key1``, ... chunks."""
    if key in group.attrs:
        return [text(n) for n in group.attrs[key]]
    names, chunk = [], 0
    while f"{key}{chunk}" in group.attrs:
        names.extend(text(n) for n in group.attrs[f"{key}{chunk}"])
        chunk += 1
    return names


def legacy_weights(layer) -> list:
    """tf.keras's weight order for legacy files: trainable weights, then non-trainable ones."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def model_layers(model) -> list:
    """Keras's ``model.layers``: a Sequential's layers (no InputLayer), a functional model's
    layers in Keras's graph order (InputLayers included)."""
    return [l for l in model.layers if l is not model]


def _is_model(layer) -> bool:
    return is_model(layer, "Sequential") or is_model(layer, "Functional")


def weight_paths(model) -> dict[int, str]:
    """id(weight) -> the variable path Keras 3 gives it, which legacy files use as the dataset name.

    Keras names a variable after the name scopes it was created in: a Sequential model builds its
    layers inside its own scope ("sequential/dense/kernel"); a functional model's layers are built
    as the graph is traced, outside any model scope ("dense/kernel"); a nested model keeps the
    paths it got when it was built (a nested Sequential with an Input: "inner/dense/kernel").
    """
    paths: dict[int, str] = {}

    def visit(container):
        prefix = f"{container.name}/" if is_model(container, "Sequential") else ""
        for layer in model_layers(container):
            if _is_model(layer):
                visit(layer)
                continue
            for w in layer.weights:
                path = str(getattr(w, "path", None) or f"{layer.name}/{getattr(w, 'name', 'variable')}")
                paths.setdefault(id(w), prefix + path)
        for w in own_weights(container):
            paths.setdefault(id(w), prefix + str(getattr(w, "path", None) or getattr(w, "name", "variable")))

    visit(model)
    return paths


def own_weights(model) -> list:
    """The model's own variables (not its layers'), trainable first: Keras's ``top_level_model_weights``."""
    own = list(getattr(model, "_own_weights", []))
    return [w for w in own if getattr(w, "trainable", True)] + [w for w in own if not getattr(w, "trainable", True)]


def legacy_object(value):
    """A serialized loss/metric as Keras's legacy serializer writes it: a function by its name, an
    object as ``{"class_name", "config"}``; lists and per-output dicts keep their shape."""
    if isinstance(value, list):
        return [legacy_object(v) for v in value]
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            if value["class_name"] == "function":
                return value.get("registered_name") or value["config"]
            return {"class_name": value.get("registered_name") or value["class_name"], "config": value["config"]}
        return {k: legacy_object(v) for k, v in value.items()}
    return value


def loss_full_names(value):
    """Loss aliases ('mse', 'mae', 'bce', 'kld', ...) as the function's full name. Keras 3 writes the
    alias as given, then cannot read it back (its legacy loader looks 'mse' up among the metrics and
    fails: "Could not deserialize 'keras.metrics.mse'"); the full name loads everywhere."""
    if isinstance(value, str):
        fn = losses.ALL_OBJECTS.get(value)
        full = getattr(fn, "__name__", None)
        return full if not isinstance(fn, type) and full and losses.ALL_OBJECTS.get(full) is fn else value
    if isinstance(value, list):
        return [loss_full_names(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: loss_full_names(v) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------------- writing

def set_name_list(group, name: str, data: list[bytes]) -> None:
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


def unique_names(names: list[str]) -> list[str]:
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
    names = unique_names([paths.get(id(w)) or str(getattr(w, "path", None) or getattr(w, "name", "variable"))
                           for w in weights])
    set_name_list(group, "weight_names", [n.encode("utf8") for n in names])
    for name, w in zip(names, weights):
        write_dataset(group, name, backend.to_numpy(w.data if hasattr(w, "data") else w))


def write_legacy_weights(group, model, paths: dict[int, str] | None = None) -> None:
    """Keras's ``save_weights_to_hdf5_group``: ``layer_names``, ``backend``, ``keras_version``, then
    one group per layer (created in name order) and ``top_level_model_weights``."""
    paths = weight_paths(model) if paths is None else paths
    layers = model_layers(model)
    set_name_list(group, "layer_names", [layer.name.encode("utf8") for layer in layers])
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(layers, key=lambda l: l.name):
        _write_subset(group.create_group(layer.name), legacy_weights(layer), paths)
    _write_subset(group.create_group("top_level_model_weights"), own_weights(model), paths)


# ----------------------------------------------------------------------------------- reading

def read_legacy_weights(model, group, source: str, skip_mismatch: bool = False) -> None:
    """tf.keras's ``load_weights_from_hdf5_group``: the i-th file layer with weights fills the i-th
    model layer with weights, trainable weights first, then non-trainable ones; then the model's own
    (``top_level_model_weights``). Everything is checked before anything is assigned."""
    if "model_weights" in group and "layer_names" not in group.attrs:
        group = group["model_weights"]
    file_layers = [(n, name_list(group[n], "weight_names")) for n in name_list(group, "layer_names")
                   if n != "top_level_model_weights"]
    file_layers = [(n, w) for n, w in file_layers if w]
    layers = [l for l in model_layers(model) if legacy_weights(l)]
    if len(file_layers) != len(layers):
        raise LoadError(f"{source} holds weights for {len(file_layers)} layer(s) {[n for n, _ in file_layers]} but "
                        f"model '{model.name}' has {len(layers)} layer(s) with weights {[l.name for l in layers]}. "
                        "Legacy files are matched layer by layer: build the same architecture.")
    pending = []
    targets = [(layer.name, type(layer).__name__, legacy_weights(layer), group[layer_name], layer_name,
                weight_names) for layer, (layer_name, weight_names) in zip(layers, file_layers)]
    top = group.get("top_level_model_weights")
    own = own_weights(model)
    if own and top is not None and name_list(top, "weight_names"):
        targets.append(("top-level model", type(model).__name__, own, top, "top_level_model_weights",
                        name_list(top, "weight_names")))
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
