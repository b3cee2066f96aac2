"""Reading tf.keras 2's spellings (see ``tf_keras`` for the table of differences): the optimizer,
loss and metric configs of an ``.h5`` file's ``training_config``, its optimizer variables in either
of tf.keras 2's orders, MultiHeadAttention's weight groups in its ``.keras`` files, and JSON text
from ``to_json`` in tf.keras 2, Keras 3 or shendu. Nothing read here is executed.
"""
from __future__ import annotations

import io
import json

import numpy as np

from shendu import metrics
from shendu.saving import weights_h5
from shendu.saving.config import LoadError, deserialize_model
from shendu.saving.tf_keras import _move_groups
from shendu.saving.weights_h5 import _optimizer_slot_owners

# tf.keras 2's legacy optimizer classes' slot names -> shendu's (Keras 3's)
_LEGACY_SLOTS = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat", "rms": "velocity",
                 "mg": "average_gradient", "accum_grad": "accumulated_grad", "accum_var": "accumulated_delta_var"}


def optimizer_from_file(config):
    """An optimizer config from either framework as shendu's optimizers read it: ``Custom>Adam`` is
    Adam; tf.keras 2's own keys (``jit_compile``, ``is_legacy_optimizer``, ``lr``, ``decay``) are
    understood by shendu's optimizers themselves."""
    if not isinstance(config, dict) or "class_name" not in config:
        return config
    name = str(config["class_name"])
    if name.startswith("Custom>"):
        name = name[len("Custom>"):]
    return {**config, "class_name": name}


def _metric_from_tf_keras(value, output_name):
    """tf.keras 2 saves a metric given by name as a ``MeanMetricWrapper`` named after it (prefixed with
    the output's name in a multi-output model): the name gives the metric back."""
    if isinstance(value, dict) and value.get("class_name") == "MeanMetricWrapper":
        config = value.get("config") or {}
        name = str(config.get("name", ""))
        if output_name and name.startswith(f"{output_name}_"):
            name = name[len(output_name) + 1:]
        if name in getattr(metrics, "_ALL_NAMES", {}) or name in ("accuracy", "acc", "crossentropy", "ce"):
            return name
        return config.get("fn", name)
    return value


def metrics_from_file(value, output_names: list):
    """tf.keras 2's per-output metric lists (``[[...], [...]]``) as compile() takes them."""
    if not isinstance(value, list) or not value or not all(isinstance(v, list) for v in value):
        return value
    if len(value) == 1 and len(output_names) <= 1:
        return [_metric_from_tf_keras(v, None) for v in value[0]]
    if len(value) == len(output_names):
        return {n: [_metric_from_tf_keras(v, n) for v in vs] for n, vs in zip(output_names, value) if vs}
    return value


def loss_from_file(value):
    """tf.keras 2's Loss objects carry their function (``fn``) and ``reduction="auto"`` in their config;
    Keras 3's classes know their function and call that reduction ``sum_over_batch_size``."""
    if isinstance(value, list):
        return [loss_from_file(v) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: loss_from_file(v) for k, v in value.items()}
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        config = {k: v for k, v in value["config"].items() if k != "fn" or value["class_name"] == "LossFunctionWrapper"}
        if config.get("reduction") == "auto":
            config["reduction"] = "sum_over_batch_size"
        return {**value, "config": config}
    return value


def training_config_from_file(training: dict, model) -> dict:
    """An ``.h5`` file's ``training_config`` (either framework) as ``compile_from_config`` takes it."""
    training = dict(training)
    training["optimizer"] = optimizer_from_file(training.pop("optimizer_config", None))
    names = model._output_names() if hasattr(model, "_output_names") else []
    training["loss"] = loss_from_file(training.get("loss"))
    for key in ("metrics", "weighted_metrics"):
        if training.get(key) is not None:
            training[key] = metrics_from_file(training[key], names)
    return training


def optimizer_arrays_from_file(model, names: list[str], arrays: list) -> list:
    """tf.keras 2's saved optimizer variables in shendu's ``get_state`` (Keras 3) order, or ``arrays``
    unchanged when they are already in it (a Keras 3 file: ``<optimizer>/iteration`` first)."""
    if not names or not names[0].split("/")[-1].startswith(("iteration", "iter:")):
        return arrays
    if "/" in names[0] and names[0].split("/")[-1].startswith("iteration") and len(names) > 1 and \
            names[1].split("/")[-1].startswith("learning_rate"):
        return arrays                                   # Keras 3: iteration, learning_rate, slots
    optimizer = model.optimizer
    head = [arrays[0]]
    if isinstance(getattr(optimizer, "_learning_rate", None), float):
        head.append(np.asarray(optimizer._learning_rate))     # tf.keras 2 keeps the rate in the config
    slots = list(zip(names[1:], arrays[1:]))
    if not getattr(optimizer, "built", False):       # the slots exist once built, as after a first step
        optimizer.build(getattr(model, "_trainable_snapshot", None) or list(model.trainable_weights))
    if not optimizer._state:
        return head                     # e.g. SGD without momentum: tf.keras 2's zero "m" slots have no use here
    legacy = names[0].split("/")[-1].startswith("iter:")
    if not legacy:
        return head + [a for _, a in slots]
    # legacy classes: slot by slot, '<Optimizer>/<variable path>/<slot>:0'; regroup per variable
    by_slot: dict[str, list] = {}
    for name, array in slots:
        slot = name.rsplit("/", 1)[-1].split(":")[0]
        by_slot.setdefault(_LEGACY_SLOTS.get(slot, slot), []).append(array)
    out = list(head)
    for owner in _optimizer_slot_owners(optimizer):
        if owner is None:
            return arrays                               # a state tf.keras 2 does not keep: leave as is
        i, slot = owner
        values = by_slot.get(slot)
        if values is None or i >= len(values):
            return arrays
        out.append(values[i])
    return out


def attention_weights_from_file(data: bytes, source: str) -> bytes:
    """A tf.keras 2 ``model.weights.h5`` with MultiHeadAttention's groups under Keras 3's names."""
    buffer = io.BytesIO(data)
    try:
        with weights_h5.require_h5py().File(buffer, "r+") as f:
            _move_groups(f, "_", "")
    except OSError as e:
        raise LoadError(f"{source}: 'model.weights.h5' is not a readable HDF5 file ({e}); the file is damaged.") from e
    return buffer.getvalue()


def model_from_json(json_string: str, custom_objects=None):
    """A model (fresh weights) from ``to_json``'s text, written by shendu, tf.keras 2 or Keras 3. Only
    classes known to shendu or given in ``custom_objects`` are built; nothing in the text is run."""
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        raise LoadError(f"model_from_json expects the text model.to_json() returns; it is not valid JSON "
                        f"({e}).") from e
    return deserialize_model(config, custom_objects=custom_objects, source="the JSON text")
