"""tf.keras 2's own file schema, both ways: its ``.h5`` models (with their optimizer), its ``.keras``
zip (tf.keras 2.13+), and its JSON.

tf.keras 2 and Keras 3 store the same weights but spell a few things differently:

    Keras 3                                      tf.keras 2
    InputLayer {"batch_shape": [None, 6]}        InputLayer {"batch_input_shape": [None, 6]}
    "dtype": {"class_name": "DTypePolicy",...}   "dtype": "float32"
    LeakyReLU {"negative_slope": 0.2}            LeakyReLU {"alpha": 0.2}
    Dense {"quantization_config": None}          (no such key; likewise BatchNormalization's
                                                 "synchronized", an RNN's "seed")
    call: {"args": [{"__keras_tensor__"...}]}    call: [["dense", 0, 0, {}]]  (a nested model's
                                                 calls are counted from 1)
    optimizer "Adam" (+ loss_scale_factor, ...)  "Custom>Adam" in ``.h5`` files; the legacy classes
                                                 (``optimizers.legacy.Adam``) write "Adam" with lr,
                                                 decay
    optimizer variables: iteration, learning     iteration, then the slots: interleaved per variable
    rate, then the slots                         (m, v, m, v, ...), or slot by slot (m, m, ..., v,
                                                 v, ...) for the legacy classes
    metrics ["mae"]                              [[{"class_name": "MeanMetricWrapper", "config":
                                                 {"name": "mae", "fn": "mean_absolute_error"}}]]

Reading accepts either spelling; writing uses tf.keras 2's where a tf.keras 2 file is asked for
(``model.save('x.h5')``, ``model.save('x.keras', format='tf_keras')``, ``model.to_json()``).
Nothing here imports TensorFlow, and nothing in a file is executed.
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile

import numpy as np

from shendu import backend
from shendu.optimizers import Optimizer
from shendu.saving import legacy_layout, weights_h5
from shendu.saving.compile_config import compile_config_of
from shendu.saving.config import _positional_names, serialize_layer
from shendu.saving.files import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, write_atomically
from shendu.saving.legacy_layout import legacy_object, legacy_weights, loss_full_names, model_layers, own_weights
from shendu.saving.legacy_layout import set_name_list, unique_names, weight_paths
from shendu.saving.registry import layer_registry
from shendu.saving.weights_h5 import _keras_variable_order, _optimizer_slot_owners, optimizer_arrays

TF_KERAS_VERSION = "2.21.0"        # the tf.keras 2 release whose schema is matched (written into files)

# Keras 3 layer config keys that tf.keras 2's layers do not take, by class (absent keys are fine)
_NOT_IN_TF_KERAS = {"quantization_config", "synchronized", "lora_rank", "lora_alpha", "optional"}
_NOT_IN_TF_KERAS_RNN = {"seed"}
_RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM2D", "ConvLSTM1D"}
# Keras 3 options tf.keras 2 lacks, with the value that means "off": dropped when off, refused when on
_KERAS3_OPTIONS = {"LayerNormalization": {"rms_scaling": False},
                   "MultiHeadAttention": {"use_gate": False, "sliding_window": None}}
_NOT_IN_TF_KERAS_MHA = {"seed"}
_INITIALIZER_KEYS_NOT_IN_TF = {"input_axes", "output_axes"}
_OPTIMIZER_KEYS_NOT_IN_TF_KERAS = {"loss_scale_factor", "gradient_accumulation_steps"}

# slot names: shendu (Keras 3) -> tf.keras 2's current optimizers (the legacy ones: tf_keras_read)
_TF_SLOTS = {"momentum": "m", "velocity": "v", "velocity_hat": "vhat"}
_TF_SLOTS_BY_OPTIMIZER = {"RMSprop": {}, "Adagrad": {}, "Adadelta": {}}   # same names as Keras 3
_TF_LEGACY_SLOTS = {"momentum": "m", "velocity": "v", "velocity_hat": "vhat"}
_TF_LEGACY_SLOTS_BY_OPTIMIZER = {"RMSprop": {"velocity": "rms", "average_gradient": "mg"}, "SGD": {},
                                 "Adagrad": {}, "Adadelta": {"accumulated_grad": "accum_grad",
                                                             "accumulated_delta_var": "accum_var"}}
_NOT_IN_LEGACY_OPTIMIZERS = {"weight_decay", "use_ema", "ema_momentum", "ema_overwrite_frequency", "jit_compile"}


# ----------------------------------------------------------------------------------- writing configs

def _dtype_name(dtype):
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name", "float32")
    return dtype


def layer_config(class_name: str, config: dict) -> dict:
    """One layer's Keras 3 config in tf.keras 2's spelling."""
    config = {k: v for k, v in config.items() if k not in _NOT_IN_TF_KERAS}
    if class_name in _RNN_CLASSES:
        config = {k: v for k, v in config.items() if k not in _NOT_IN_TF_KERAS_RNN}
    if class_name == "MultiHeadAttention":
        config = {k: v for k, v in config.items() if k not in _NOT_IN_TF_KERAS_MHA}
    for key, off in _KERAS3_OPTIONS.get(class_name, {}).items():
        if key in config and config[key] != off:
            raise ValueError(f"Layer '{config.get('name')}' ({class_name}) uses {key}={config[key]!r}, which "
                             "tf.keras 2 does not have, so the model cannot be written in tf.keras 2's schema. Save "
                             "it as Keras 3's '.keras' file instead: model.save('model.keras').")
        config.pop(key, None)
    if "dtype" in config:
        config["dtype"] = _dtype_name(config["dtype"])
    config = {k: _nested_object(v) for k, v in config.items()}
    if class_name == "InputLayer" and "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    if class_name == "LeakyReLU" and "negative_slope" in config:
        config["alpha"] = config.pop("negative_slope")
    for key in ("layer", "cell", "backward_layer", "forward_layer"):       # wrappers: the wrapped layer too
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            config[key] = {**inner, "config": layer_config(inner["class_name"], inner["config"])}
    return config


def _nested_object(value):
    """An initializer, regularizer or constraint inside a layer's config, less Keras 3's newer keys."""
    if isinstance(value, dict) and value.get("module") == "keras.initializers" and \
            isinstance(value.get("config"), dict):
        return {**value, "config": {k: v for k, v in value["config"].items() if k not in _INITIALIZER_KEYS_NOT_IN_TF}}
    return value


def _node(node: dict, nested: set, class_name: str = "") -> list:
    """A Keras 3 call ``{"args", "kwargs"}`` as tf.keras 2's ``[[layer, node, tensor, kwargs], ...]``:
    the first argument's tensors are listed; the other arguments go into ``kwargs`` under the names of
    ``call``'s parameters, a tensor as ``[layer, node, tensor]``."""
    tensors = []

    def reference(x):
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            name, index, tensor = x["config"]["keras_history"]
            return [name, index + 1 if name in nested else index, tensor]
        if isinstance(x, dict):
            return {k: reference(v) for k, v in x.items()}
        if isinstance(x, list):
            return [reference(v) for v in x]
        return x

    def collect(x):
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            tensors.append(x["config"]["keras_history"])
        elif isinstance(x, dict):
            for v in x.values():
                collect(v)
        elif isinstance(x, list):
            for v in x:
                collect(v)

    args = list(node.get("args", []))
    if args:
        collect(args[0])
    kwargs = {k: reference(v) for k, v in (node.get("kwargs") or {}).items()}
    if len(args) > 1:
        names = _call_arg_names(class_name)
        if len(names) < len(args):
            raise ValueError(f"A {class_name} layer is called with {len(args)} positional arguments, which tf.keras "
                             "2's config cannot name; call it with keyword arguments to save it in its schema.")
        kwargs.update({n: reference(a) for n, a in zip(names[1:], args[1:])})
    return [[name, index + 1 if name in nested else index, tensor, kwargs] for name, index, tensor in tensors]


def _call_arg_names(class_name: str) -> list[str]:
    cls = layer_registry().get(class_name)
    return _positional_names(cls.call)[1:] if cls is not None else []     # without self


def _endpoint(item, sequential: set) -> list:
    """input_layers/output_layers entries: always a list of [layer, node, tensor] in tf.keras 2; the
    Keras 3 writer already counts a nested functional model from 1, tf.keras 2 also a nested Sequential."""
    items = [item] if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) else list(item)
    return [[n, i + 1 if n in sequential else i, t] for n, i, t in items]


def has_own_input(entry: dict) -> bool:
    """Whether tf.keras 2 gives this nested model an inner call (node 0) of its own: a functional model,
    or a Sequential that starts with an InputLayer."""
    if entry.get("class_name") in ("Functional", "Model"):
        return True
    layers = (entry.get("config") or {}).get("layers") or []
    return entry.get("class_name") == "Sequential" and bool(layers) and layers[0].get("class_name") == "InputLayer"


def model_config(entry: dict, archive: bool = False) -> dict:
    """A model entry of Keras 3's config (``serialize_layer(model)``) in tf.keras 2's schema.

    ``archive``: the ``.keras`` form (every entry keeps ``module``, ``registered_name``,
    ``build_config``); otherwise the ``.h5``/JSON form, ``{"class_name", "config"}`` pairs."""
    class_name, config = entry["class_name"], dict(entry.get("config") or {})
    layers = config.get("layers")
    if isinstance(layers, list):
        if class_name == "Functional":
            nested = {e.get("name") for e in layers if isinstance(e.get("config"), dict)
                      and isinstance(e["config"].get("layers"), list) and has_own_input(e)}
        else:
            nested = set()
        out_layers = []
        for e in layers:
            converted = model_config(e, archive)
            if class_name == "Functional":
                converted["name"] = e.get("name", (e.get("config") or {}).get("name"))
                converted["inbound_nodes"] = [_node(n, nested, e["class_name"]) if isinstance(n, dict) else n
                                              for n in e.get("inbound_nodes", [])]
            out_layers.append(converted)
        config["layers"] = out_layers
        config.pop("dtype", None)
        config.pop("build_input_shape", None)
        if class_name == "Functional":
            sequential = {e.get("name") for e in layers if e.get("name") in nested and e["class_name"] == "Sequential"}
            for key in ("input_layers", "output_layers"):
                config[key] = _endpoint(config[key], sequential)
    else:
        config = layer_config(class_name, config)
        shapes = (entry.get("build_config") or {}).get("shapes_dict")
        if class_name == "MultiHeadAttention" and shapes:     # tf.keras 2 builds it from these config keys
            config["query_shape"] = shapes.get("query_shape")
            config["value_shape"] = shapes.get("value_shape")
            config["key_shape"] = shapes.get("key_shape", shapes.get("value_shape"))
    out = {"class_name": class_name, "config": config}
    if archive:
        module = entry.get("module")
        out = {"module": "keras" if class_name in ("Sequential", "Functional") else module,
               "class_name": class_name, "config": config, "registered_name": entry.get("registered_name")}
        if class_name == "Functional":
            out["module"] = "keras.src.engine.functional"
            out["registered_name"] = None
        if entry.get("build_config") is not None and class_name != "Functional":
            out["build_config"] = entry["build_config"]
    return out


def _legacy(optimizer) -> bool:
    """tf.keras 2's ``decay=`` exists only in its legacy optimizer classes: such an optimizer is saved as one."""
    return bool(getattr(optimizer, "decay", 0.0))


def optimizer_config(optimizer, registered: bool = True) -> dict:
    """The optimizer as tf.keras 2 writes it: ``Custom>Adam`` (the class it registers) in ``.h5`` files,
    or, with ``decay``, its legacy class (a plain class name), which has no EMA or weight decay."""
    config = {k: v for k, v in optimizer.get_config().items() if k not in _OPTIMIZER_KEYS_NOT_IN_TF_KERAS}
    name = type(optimizer).__name__
    if _legacy(optimizer):
        if config.get("weight_decay") or config.get("use_ema"):
            raise ValueError(f"{name} with decay= and weight_decay=/use_ema= has no tf.keras 2 equivalent (decay "
                             "exists only in its legacy classes, which lack the others): use a learning-rate "
                             "schedule instead of decay, e.g. keras.optimizers.schedules.InverseTimeDecay.")
        config = {k: v for k, v in config.items() if k not in _NOT_IN_LEGACY_OPTIMIZERS
                  and not (k in ("clipnorm", "clipvalue", "global_clipnorm") and v is None)}
        return {"class_name": name, "config": config}          # a plain class name: tf.keras 2's legacy one
    config.pop("decay", None)
    config.update({"jit_compile": False, "is_legacy_optimizer": False})
    return {"class_name": f"Custom>{name}" if registered else name, "config": config}


def compile_config(model) -> dict | None:
    """compile()'s arguments in tf.keras 2's spelling (``training_config`` of an ``.h5`` file; with
    ``optimizer`` instead of ``optimizer_config``, the ``compile_config`` of its ``.keras`` file)."""
    config = compile_config_of(model)
    if config is None or getattr(model, "optimizer", None) is None:
        return None
    config.pop("optimizer")
    out = {k: legacy_object(v) for k, v in config.items() if k in ("loss", "metrics", "weighted_metrics",
                                                                   "loss_weights")}
    out["loss"] = loss_full_names(out.get("loss"))
    names = model._output_names()
    for key in ("metrics", "weighted_metrics"):
        value = out.get(key)
        if isinstance(value, dict) and len(names) > 1:        # per output, as the list tf.keras 2 writes
            out[key] = [value.get(n) or [] for n in names]
    return out


def training_config(model) -> dict | None:
    out = compile_config(model)
    if out is not None:
        out["optimizer_config"] = optimizer_config(model.optimizer)
    return out


def optimizer_weights(model) -> tuple[list[str], list[np.ndarray]]:
    """(names, arrays) as tf.keras 2 saves its optimizer: ``iteration:0`` (int64), then each slot,
    ``<Optimizer>/<slot>/<variable path>:0``, in the order tf.keras 2 creates them (Keras 3's order)."""
    optimizer = model.optimizer
    arrays = optimizer_arrays(model, optimizer)
    head = len(arrays) - len(optimizer._state)
    names, out = ["iteration:0"], [np.asarray(arrays[0], dtype=np.int64)]
    variables = _keras_variable_order(model, optimizer) or list(optimizer._variables)
    paths = weight_paths(model)
    cls = type(optimizer).__name__
    slot_names = _TF_SLOTS_BY_OPTIMIZER.get(cls, _TF_SLOTS)
    slots = [(owner, np.asarray(arrays[head + k])) for k, owner in enumerate(_optimizer_slot_owners(optimizer))
             if owner is not None]              # a scalar state (Nadam's u_product): tf.keras 2 keeps none
    if _legacy(optimizer):
        # the legacy classes: '<Optimizer>/iter:0', then slot by slot, '<Optimizer>/<variable path>/<slot>:0'
        legacy_names = _TF_LEGACY_SLOTS_BY_OPTIMIZER.get(cls, _TF_LEGACY_SLOTS)
        names = [f"{cls}/iter:0"]
        order = list(dict.fromkeys(slot for (_, slot), _ in slots))
        for wanted in order:
            for (i, slot), array in slots:
                if slot == wanted:
                    names.append(f"{cls}/{_short_path(variables[i], paths)}/{legacy_names.get(slot, slot)}:0")
                    out.append(array)
        return names, out
    for (i, slot), array in slots:
        names.append(f"{cls}/{slot_names.get(slot, slot)}/{_short_path(variables[i], paths)}:0")
        out.append(array)
    if cls == "SGD" and not optimizer._state and not _legacy(optimizer):
        # tf.keras 2's SGD keeps a momentum slot ("m") per variable even at momentum=0: all zeros here
        for w in _trainable_in_keras_order(model):
            names.append(f"SGD/m/{_short_path(w, paths)}:0")
            out.append(np.zeros(tuple(w.shape), dtype=np.dtype(w.dtype)))
    return names, out


def _trainable_in_keras_order(model) -> list:
    out, seen = [], set()
    for layer in model.layers:
        for w in layer.trainable_weights:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
    return out


def _short_path(weight, paths: dict) -> str:
    """tf.keras 2's variable name without ':0': the layer's scope, no model prefix ('dense/kernel')."""
    path = str(getattr(weight, "path", None) or paths.get(id(weight)) or getattr(weight, "name", "variable"))
    return path


# ----------------------------------------------------------------------------------- the .h5 file

def write_h5(model, f, include_optimizer: bool = True) -> None:
    """tf.keras 2's ``save_model_to_hdf5`` into an open, empty h5py file."""
    f.attrs["keras_version"] = TF_KERAS_VERSION
    f.attrs["backend"] = "tensorflow"
    f.attrs["model_config"] = json.dumps(model_config(serialize_layer(model))).encode("utf8")
    compiled = include_optimizer and getattr(model, "_compiled", False) and model.optimizer is not None
    if compiled:
        f.attrs["training_config"] = json.dumps(training_config(model)).encode("utf8")
    write_weights_group(f.create_group("model_weights"), model)
    if compiled:
        names, arrays = optimizer_weights(model)
        names = unique_names(names)
        group = f.create_group("optimizer_weights")
        set_name_list(group, "weight_names", [n.encode("utf8") for n in names])
        for name, array in zip(names, arrays):
            legacy_layout.write_dataset(group, name, array)
    f.flush()


# ----------------------------------------------------------------------------------- JSON

def to_json(model, **kwargs) -> str:
    """``model.to_json()``: the architecture in tf.keras 2's schema, which tf.keras 2 and shendu read
    (``keras.models.model_from_json``); weights are not included."""
    config = model_config(serialize_layer(model), archive=True)
    return json.dumps({"class_name": config["class_name"], "config": config["config"],
                       "keras_version": TF_KERAS_VERSION, "backend": "tensorflow"}, **kwargs)


def to_yaml(model, **kwargs):
    """tf.keras 2 removed YAML (arbitrary code execution on load); its error, as it raises it."""
    raise RuntimeError("Method `model.to_yaml()` has been removed due to security risk of arbitrary code "
                       "execution. Please use `model.to_json()` instead.")


def write_weights_group(group, model) -> None:
    """tf.keras 2's ``save_weights_to_hdf5_group``: ``layer_names`` (its ``model.layers``), then a group
    per layer whose ``weight_names`` are the variables' names, ``dense/kernel:0``."""
    paths = weight_paths(model)
    layers = model_layers(model)
    set_name_list(group, "layer_names", [layer.name.encode("utf8") for layer in layers])
    group.attrs["backend"] = "tensorflow"
    group.attrs["keras_version"] = TF_KERAS_VERSION
    for layer in layers + [None]:
        weights = legacy_weights(layer) if layer is not None else own_weights(model)
        sub = group.create_group(layer.name if layer is not None else "top_level_model_weights")
        names = unique_names([f"{_short_path(w, paths)}:0" for w in weights])
        set_name_list(sub, "weight_names", [n.encode("utf8") for n in names])
        for name, w in zip(names, weights):
            legacy_layout.write_dataset(sub, name, backend.to_numpy(w.data if hasattr(w, "data") else w))


# ----------------------------------------------------------------------------------- the .keras zip

def archive_config(model) -> dict:
    """``config.json`` of a tf.keras 2.13+ ``.keras`` file: its schema, its ``compile_config``."""
    entry = serialize_layer(model)
    out = model_config(entry, archive=True)
    if entry.get("build_config") is not None:
        out["build_config"] = entry["build_config"]
    compiled = compile_config(model)
    if compiled is not None:
        optimizer = optimizer_config(model.optimizer, registered=False)
        compiled = {"optimizer": {"module": "keras.optimizers", **optimizer, "registered_name": None},
                    **compiled, "run_eagerly": None, "steps_per_execution": None, "jit_compile": None}
        out["compile_config"] = compiled
    return out


def _weights_bytes(model, include_optimizer: bool) -> bytes:
    """Keras 3's ``model.weights.h5`` less each optimizer's learning rate, which tf.keras 2 keeps in
    its config rather than among the optimizer's variables."""

    buffer = io.BytesIO()
    with weights_h5.require_h5py().File(buffer, "w") as f:
        weights_h5.write_weights(model, f, include_optimizer)
        for path, obj in weights_h5.saveables(model):
            group = f.get(f"{path}/vars" if path else "vars")
            if not isinstance(obj, Optimizer) or group is None or not isinstance(obj._learning_rate, float):
                continue
            count = len(group)
            if count < 2:
                continue
            del group["1"]
            for i in range(2, count):
                group.move(str(i), str(i - 1))
        _rename_attention_groups(f)
    return buffer.getvalue()


_ATTENTION_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")


def _rename_attention_groups(f) -> None:
    """tf.keras 2 saves MultiHeadAttention's projections under its private attribute names
    (``_query_dense``); Keras 3 under ``query_dense``."""
    _move_groups(f, "", "_")


def _move_groups(h5file, old: str, new: str) -> None:
    names = []
    h5file.visit(lambda name: names.append(name) if hasattr(h5file[name], "keys") else None)
    parents = [n for n in names if all(f"{n}/{old}{part}" in h5file for part in _ATTENTION_PARTS)]
    for name in parents:
        for part in _ATTENTION_PARTS:
            h5file[name].move(f"{old}{part}", f"{new}{part}")


def save_archive(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """``model.save('x.keras', format='tf_keras')``: a ``.keras`` zip that tf.keras 2.13+ opens."""

    metadata = {"keras_version": TF_KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(METADATA_FILE, json.dumps(metadata))
        zf.writestr(CONFIG_FILE, json.dumps(archive_config(model)))
        zf.writestr(WEIGHTS_FILE, _weights_bytes(model, include_optimizer))
    write_atomically(filepath, buffer.getvalue(), overwrite)
