"""Sequential and Functional models to and from Keras 3's config dicts (``config.json`` in a ``.keras``).

A Sequential config lists its layers, an ``InputLayer`` entry with ``batch_shape`` first. A
Functional config lists every layer with the calls made on it (``inbound_nodes``); each call's
arguments hold the tensors it received as ``{"class_name": "__keras_tensor__", "config":
{"shape", "dtype", "keras_history": [layer name, node index, tensor index]}}``, so the graph can
be replayed. Keras orders a functional model's layers by depth (farthest from the outputs first,
ties by first visit from the outputs); shendu writes the same order, because the weight file's
paths (``layers/dense``, ``layers/dense_1``, ...) are numbered in it.
"""
from __future__ import annotations

import numpy as np

from shendu import backend
from shendu.layers.core import InputLayer
from shendu.layers.symbolic import KerasTensor, flatten, map_structure
from shendu.saving.tf_keras import has_own_input
from shendu.saving.config import (Context, LoadError, _build_from_config, deserialize_keras_object, deserialize_layer,
                                  serialize_keras_object, serialize_layer)


# ----------------------------------------------------------------------------------- Keras's layer order

def _producer(t: KerasTensor, clones=None):
    """(layer, node) that made ``t``; an Input's "node" is its InputLayer, and so is that of a layer output
    a model takes as an input (``clones``: the model's InputLayers for those, by tensor id)."""
    if clones and id(t) in clones:
        return clones[id(t)], clones[id(t)]
    if t.node is None:
        layer = t.__dict__.get("input_layer")
        if layer is None:
            raise ValueError(f"Symbolic tensor {t!r} was made neither by a layer nor by Input().")
        return layer, layer
    return t.node.layer, t.node


def keras_layer_order(model) -> list:
    """The model's layers in Keras 3's order (``model.layers`` in Keras; the weight paths follow it).

    Sequential: its layers. Functional: ``keras.src.ops.function.map_graph``'s order, i.e. by
    decreasing depth (distance from the outputs), ties broken by first visit in a depth-first walk
    from the outputs.
    """
    from shendu.models.functional import Functional
    if not isinstance(model, Functional):
        return list(model.layers)
    finished, ordered, op_index, layer_of = set(), [], {}, {}
    clones = model.__dict__.get("_input_clones")
    outputs, struct = model.outputs, model.__dict__.get("_outputs_struct")
    if isinstance(struct, dict):       # Keras flattens a dict of outputs in sorted key order before the walk
        outputs = [t for key in sorted(struct) for t in flatten(struct[key])]
    for out in outputs:
        stack = [(out, False)]
        while stack:
            t, done = stack.pop()
            layer, node = _producer(t, clones)
            if done:
                if id(node) not in finished:
                    finished.add(id(node))
                    ordered.append(node)
                continue
            if id(node) in finished:
                continue
            op_index.setdefault(id(layer), len(op_index))
            layer_of[id(layer)] = layer
            stack.append((t, True))
            if node is not layer:                     # not an Input: visit the tensors it consumed
                stack.extend((x, False) for x in reversed(node.inputs))
    in_graph = {id(n) for n in ordered}
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        layer = node if isinstance(node, InputLayer) else node.layer
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(layer), 0))
        layer_depth[id(layer)] = depth
        node_depth[id(node)] = depth
        if node is not layer:
            for x in node.inputs:
                parent = _producer(x, clones)[1]
                if id(parent) in in_graph:
                    node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in model.inputs:                            # inputs the outputs do not use still belong
        layer = _producer(t, clones)[0]
        if id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            op_index[id(layer)] = -1
            layer_of[id(layer)] = layer
    by_depth: dict[int, list] = {}
    for key, depth in layer_depth.items():
        by_depth.setdefault(depth, []).append(key)
    order = []
    for depth in sorted(by_depth, reverse=True):
        order.extend(sorted(by_depth[depth], key=lambda k: op_index[k]))
    return [layer_of[k] for k in order]


# ----------------------------------------------------------------------------------- to config

def _dtype_policy(name) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _input_layer_entry(batch_shape, dtype, name) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(batch_shape), "dtype": dtype, "sparse": False, "ragged": False,
                       "name": name, "optional": False},
            "registered_name": None}


def sequential_config(model) -> dict:
    """Keras 3's Sequential config: name, trainable, dtype, layers (InputLayer first), build_input_shape."""
    layers = []
    shape = model.input_shape
    if shape is not None:
        dtype = getattr(model.layers[0], "input_dtype", None) if model.layers else None
        dtype = dtype if dtype == "string" else np.dtype(dtype or backend.floatx).name
        layers.append(_input_layer_entry(shape, dtype, "input_layer"))
    layers.extend(serialize_layer(layer) for layer in model.layers)
    config = {"name": model.name, "trainable": model.trainable, "dtype": _dtype_policy(model.dtype),
              "layers": layers}
    if shape is not None:
        config["build_input_shape"] = list(shape)
    return config


def functional_config(model) -> dict:
    """Keras 3's Functional config: every layer with its calls, then input_layers and output_layers."""
    from shendu.models.functional import Functional
    order = keras_layer_order(model)
    in_graph = {id(n) for n in model._nodes}
    new_index = {}           # id(node) -> its index among the calls that belong to this model
    for layer in order:
        kept = 0
        for node in getattr(layer, "_inbound_nodes", []):
            if id(node) in in_graph:
                new_index[id(node)] = kept
                kept += 1

    clones = model.__dict__.get("_input_clones")

    def history(t: KerasTensor) -> list:
        layer, node = _producer(t, clones)
        if node is layer:
            return [layer.name, 0, 0]
        return [layer.name, new_index[id(node)], t.index]

    def endpoint(t: KerasTensor) -> list:
        # Keras still numbers a nested functional model's calls from 1 here (tf.keras gave it an inner
        # node 0), though not inside "args"; its loader subtracts the 1 again
        name, index, tensor_index = history(t)
        return [name, index + 1 if isinstance(_producer(t, clones)[0], Functional) else index, tensor_index]

    def tensor_entry(x):
        if isinstance(x, KerasTensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(x.shape), "dtype": x.dtype, "keras_history": history(x)}}
        return serialize_keras_object(x)

    layer_configs = []
    for layer in order:
        if isinstance(layer, InputLayer):
            entry = _input_layer_entry(layer.batch_shape, layer.output.dtype, layer.name)
        else:
            entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [map_structure(tensor_entry, a) for a in node.args],
             "kwargs": {k: map_structure(tensor_entry, v) for k, v in node.kwargs.items()}}
            for node in getattr(layer, "_inbound_nodes", []) if id(node) in in_graph]
        layer_configs.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layer_configs,
            "input_layers": _listify(map_structure(endpoint, model._inputs_struct)),
            "output_layers": _listify(map_structure(endpoint, model._outputs_struct))}


def _listify(structure):
    if isinstance(structure, (list, tuple)):
        return [_listify(s) for s in structure]
    if isinstance(structure, dict):
        return {k: _listify(v) for k, v in structure.items()}
    return structure


# ----------------------------------------------------------------------------------- from config

def model_from_config(config: dict, custom_objects=None, safe_mode: bool = True, source: str = "the config",
                      cls=None):
    """Rebuild a Sequential or Functional model from Keras 3's config (the whole ``{"class_name",
    "config"}`` dict, or the inner ``config`` alone). Layers come from shendu's registry or
    ``custom_objects``; nothing named in the config is imported or executed. ``cls``: the Model subclass a
    functional config is rebuilt as (``CustomModel.from_config``)."""
    ctx = custom_objects if isinstance(custom_objects, Context) else Context(custom_objects, safe_mode, source)
    if not isinstance(config, dict):
        raise LoadError(f"{ctx.source}: a model config must be a dict, got {type(config).__name__}.")
    if "class_name" in config and isinstance(config.get("config"), dict):
        class_name, inner = config["class_name"], config["config"]
    else:
        inner = config
        class_name = "Functional" if "input_layers" in config else "Sequential"
    custom = cls or ctx.custom(config.get("registered_name"), class_name)
    if custom is not None and "input_layers" in inner and "layers" in inner:
        return _functional_from_config(inner, ctx, cls=custom)     # class CustomModel(Model) built functionally
    if custom is not None and hasattr(custom, "from_config"):
        model = custom.from_config(inner)
        _build(model, config.get("build_config"))
        return model
    if class_name == "Sequential":
        return _sequential_from_config(inner, ctx)
    if class_name in ("Functional", "Model") and "layers" in inner:
        return _functional_from_config(inner, ctx)
    raise LoadError(
        f"{ctx.source}: the model is of class {class_name!r}, which is neither Sequential nor Functional. A "
        f"subclassed model can be loaded only with its class: custom_objects={{{class_name!r}: {class_name}}} "
        "(it needs get_config() and from_config()).")


def _build(model, build_config):
    if build_config and not model.built:
        _build_from_config(model, build_config)


def _sequential_from_config(config: dict, ctx):
    from shendu.models.sequential import Sequential
    if "layers" not in config:
        raise LoadError(f"{ctx.source}: a Sequential config needs a 'layers' list; its keys are {sorted(config)}.")
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config["layers"]:
        model.add(deserialize_layer(entry, ctx, build=False))
    shape = config.get("build_input_shape")
    if not model.built and shape and model.layers:
        model.build(tuple(shape))
    return model


def _functional_from_config(config: dict, ctx, cls=None):
    """Keras's ``functional_from_config``: create every layer, then replay the recorded calls in layer
    order, deferring a call until the tensors it needs exist."""
    from shendu.models.functional import Functional
    created, pending = {}, {}
    for entry in config["layers"]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        layer = deserialize_layer(entry, ctx, build=False)
        created[name] = layer
        nodes = entry.get("inbound_nodes") or []
        if nodes:
            pending[name] = list(nodes)

    # tf.keras 2 counts the calls of a nested model that has its own Input from 1 (its node 0 is inside it)
    tf2_nested = _tf2_nested_models(config)

    class NotYet(Exception):
        pass

    def tensor(layer_name, node_index, tensor_index, endpoint=False):
        layer = created.get(layer_name)
        if layer is None:
            raise LoadError(f"{ctx.source}: a call refers to layer '{layer_name}', which the config does not list.")
        if isinstance(layer, InputLayer):
            return layer.output
        if (endpoint and isinstance(layer, Functional)) or layer_name in tf2_nested:
            node_index -= 1                        # see functional_config: endpoints count a nested model from 1
        if not 0 <= node_index < len(layer._inbound_nodes):
            raise NotYet
        return flatten(layer._inbound_nodes[node_index].outputs)[tensor_index]

    def revive(x):
        if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
            return tensor(*x["config"]["keras_history"])
        if isinstance(x, dict) and "class_name" not in x:
            return {k: revive(v) for k, v in x.items()}
        if isinstance(x, list):
            return [revive(v) for v in x]
        return deserialize_keras_object(x, ctx)

    def call(layer, node):
        if isinstance(node, list):                 # tf.keras 2's form: [[name, node, tensor, kwargs], ...]
            tensors = [tensor(*item[:3]) for item in node]
            kwargs = node[0][3] if node and len(node[0]) > 3 else {}
            kwargs = {k: tensor(*v) if _is_reference(v) else v for k, v in kwargs.items()}   # call(x, value=y)
            layer(tensors[0] if len(tensors) == 1 else tensors, **kwargs)
            return
        args = [revive(a) for a in node.get("args", [])]
        kwargs = {k: revive(v) for k, v in (node.get("kwargs") or {}).items()}
        layer(*args, **kwargs)

    while pending:
        progressed = False
        for entry in config["layers"]:
            name = entry.get("name") or (entry.get("config") or {}).get("name")
            nodes = pending.get(name)
            while nodes:
                try:
                    call(created[name], nodes[0])
                except NotYet:
                    break
                nodes.pop(0)
                progressed = True
            if name in pending and not nodes:
                del pending[name]
        if not progressed:
            raise LoadError(f"{ctx.source}: the functional graph cannot be rebuilt: the calls of layers "
                            f"{sorted(pending)} refer to tensors that are never produced (a loop or a missing "
                            "layer in the config).")

    def endpoints(structure):
        if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
            return tensor(*structure, endpoint=True)
        if isinstance(structure, dict):
            return {k: endpoints(v) for k, v in structure.items()}
        return [endpoints(s) for s in structure]

    try:
        inputs = endpoints(config["input_layers"])
        outputs = endpoints(config["output_layers"])
    except NotYet:
        raise LoadError(f"{ctx.source}: input_layers/output_layers name a call that the config never makes.") from None
    # a config lists even a single input or output; as Keras, a model rebuilt from it takes and gives one tensor
    inputs = inputs[0] if isinstance(inputs, list) and len(inputs) == 1 else inputs
    outputs = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs
    return (cls or Functional)(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _tf2_nested_models(config: dict) -> set:
    """Names of the nested models whose calls a tf.keras 2 config (calls as lists) counts from 1."""
    entries = config.get("layers") or []
    if not any(isinstance(n, list) for e in entries for n in (e.get("inbound_nodes") or [])):
        return set()
    return {e.get("name") for e in entries if isinstance(e.get("config"), dict)
            and isinstance(e["config"].get("layers"), list) and has_own_input(e)}


def _is_reference(value) -> bool:
    """tf.keras 2's reference to a tensor in a call's kwargs: [layer name, node index, tensor index]."""
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))
