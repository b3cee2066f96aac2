"""The functional API: ``Model(inputs, outputs)`` replays the graph of layer calls recorded on ``Input``s.

Its config (Keras 3's) lists every layer with the calls made on it (``inbound_nodes``); each call's
arguments hold the tensors it received as ``{"class_name": "__keras_tensor__", "config": {"shape",
"dtype", "keras_history": [layer name, node index, tensor index]}}``, so ``from_config`` can replay
the graph. Keras orders a functional model's layers by depth (farthest from the outputs first, ties
by first visit from the outputs); shendu keeps the same order in ``model.layers``, because the weight
file's paths (``layers/dense``, ``layers/dense_1``, ...) are numbered in it.
"""
from __future__ import annotations

from shendu.layers.core import InputLayer, conform_rank
from shendu.layers.symbolic import KerasTensor, flatten, map_shapes, map_structure
from shendu.models.model import Model
from shendu.saving.config import (Context, LoadError, deserialize_keras_object, deserialize_layer, input_layer_entry,
                                  serialize_keras_object, serialize_layer)
from shendu.saving.registry import register_model_class
from shendu.saving.tf_keras import has_own_input
from shendu.tensor import Tensor


def _graph(outputs, stop=frozenset()):
    """Nodes between the inputs and ``outputs``, producers before consumers (iterative DFS); the walk
    ends at Inputs and at the tensors whose ids are in ``stop`` (intermediate tensors used as inputs)."""
    order, seen = [], set()
    for out in flatten(outputs):
        if out.node is None or id(out.node) in seen or id(out) in stop:
            continue
        stack = [(out.node, iter(out.node.inputs))]
        seen.add(id(out.node))
        while stack:
            node, it = stack[-1]
            for t in it:
                if t.node is not None and id(t.node) not in seen and id(t) not in stop:
                    seen.add(id(t.node))
                    stack.append((t.node, iter(t.node.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


class Functional(Model):
    """A model defined by connecting layers: ``Model(inputs=x_in, outputs=y)``; layers may be shared."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._input_clones = {}
        for t in flatten(inputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs must be keras.Input(...) tensors or layer outputs, got {t!r}.")
            if not hasattr(t, "input_layer"):
                # a layer's output used as an input (Keras 3): it gets an InputLayer of its own in this model,
                # and the graph walk stops there
                self._input_clones[id(t)] = InputLayer(batch_shape=t.shape, dtype=t.dtype)
        for t in flatten(outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model outputs must be the results of layers called on Inputs, got {t!r}.")
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = flatten(inputs)
        self.outputs = flatten(outputs)
        known = {id(t) for t in self.inputs}
        self._nodes = _graph(outputs, stop=known)
        for node in self._nodes:
            for t in node.inputs:
                if t.node is None and id(t) not in known:
                    raise ValueError(f"Layer '{node.layer.name}' is connected to an Input ({t.name}) that is not "
                                     f"among this model's inputs; pass it in Model(inputs=[...]).")
        self._functional_layers = []
        layers = keras_layer_order(self)         # Keras's order (by depth), which get_weights() follows
        self._functional_layers = layers
        for layer in layers:
            if not isinstance(layer, InputLayer) and layer not in self._sublayers:
                self._sublayers.append(layer)
        self.built = True

    @property
    def layers(self):
        return list(self._functional_layers)

    @property
    def input(self):
        """The model's input tensor(s), as given to ``Model(inputs, ...)``: reuse them to build new models."""
        return self._inputs_struct

    @property
    def output(self):
        """The model's output tensor(s), as given to ``Model(..., outputs)``."""
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self):
        return [t.node.layer.name for t in self.outputs]

    def _check_inputs(self, values):
        if len(values) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s) "
                             f"{[t.shape for t in self.inputs]} but was called on {len(values)}.")
        for t, v in zip(self.inputs, values):
            shape = tuple(v.shape)
            if len(shape) != len(t.shape) or any(e is not None and e != g for e, g in zip(t.shape[1:], shape[1:])):
                raise ValueError(f"Input '{t.name}' of model '{self.name}' expects shape {t.shape} "
                                 f"(None is the batch axis) but got {shape}.")

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            values = [inputs[t.name] for t in self.inputs]
        else:
            values = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        values = [conform_rank(v, t.shape) for t, v in zip(self.inputs, values)]
        self._check_inputs(values)
        values = [v.astype(t.dtype) if isinstance(v, Tensor) and v.dtype.kind in "iub" and t.dtype.startswith("float")
                  else v for t, v in zip(self.inputs, values)]     # an Input's dtype converts raw integer data
        computed = {id(t): v for t, v in zip(self.inputs, values)}
        lookup = lambda t: computed[id(t)] if isinstance(t, KerasTensor) else t  # noqa: E731
        pairs, nodes, i = (self._pool_pairs() if self.fuse_conv_pool else ()), self._nodes, 0
        while i < len(nodes):
            node = nodes[i]
            args = map_structure(lookup, node.args)
            kwargs = map_structure(lookup, node.kwargs)
            if i in pairs and isinstance(args[0], Tensor) and node.layer.fuses_pool(nodes[i + 1].layer):
                i += 1                              # Conv2D then MaxPooling2D, as one op (conv2d_act_pool)
                out, node = node.layer.call_pooled(args[0], nodes[i].layer), nodes[i]
            else:
                out = node.layer(*args, **kwargs)
            for sym, real in zip(flatten(node.outputs), flatten(out)):
                computed[id(sym)] = real
            i += 1
        return map_structure(lookup, self._outputs_struct)

    fuse_conv_pool = True       # as Sequential's: a Conv2D and the MaxPooling2D fed by it alone run as one op

    def _pool_pairs(self) -> set:
        """Indexes i of the nodes calling a layer with ``fuses_pool`` (Conv2D) on one tensor whose output only
        node i + 1 reads, alone: the candidates ``call`` runs with node i + 1's layer through ``call_pooled``."""
        if getattr(self, "_pairs", None) is None:
            uses = {}
            for t in [t for node in self._nodes for t in node.inputs] + self.outputs:
                uses[id(t)] = uses.get(id(t), 0) + 1
            self._pairs = set()
            for i, (node, after) in enumerate(zip(self._nodes, self._nodes[1:])):
                outs = flatten(node.outputs)
                if (len(outs) == 1 and uses.get(id(outs[0])) == 1 and len(node.args) == 1 and not node.kwargs
                        and isinstance(node.args[0], KerasTensor) and len(after.args) == 1
                        and after.args[0] is outs[0] and not after.kwargs
                        and getattr(node.layer, "fuses_pool", None) is not None):
                    self._pairs.add(i)
        return self._pairs

    def compute_output_spec(self, inputs, *args, **kwargs):
        """The graph walked on symbolic tensors: each layer's ``compute_output_spec``, no node recorded."""
        if isinstance(inputs, dict):
            values = [inputs[t.name] for t in self.inputs]
        else:
            values = flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        computed = {id(t): v for t, v in zip(self.inputs, values)}
        lookup = lambda t: computed[id(t)] if isinstance(t, KerasTensor) else t  # noqa: E731
        for node in self._nodes:
            out = node.layer.compute_output_spec(*map_structure(lookup, node.args),
                                                 **map_structure(lookup, node.kwargs))
            for sym, spec in zip(flatten(node.outputs), flatten(out)):
                computed[id(sym)] = spec
        return map_structure(lookup, self._outputs_struct)

    def compute_output_shape(self, input_shape):
        specs = map_shapes(lambda s: KerasTensor(s), input_shape)
        return map_structure(lambda t: t.shape, self.compute_output_spec(specs))

    def get_config(self):
        """Keras 3's config: name, trainable, every layer with its calls, input_layers, output_layers."""
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model ``get_config()`` describes, with new layers (a subclass built functionally gets its own
        class back). Layers come from shendu's registry or ``custom_objects``; nothing is imported."""
        return functional_from_config(cls.__dict__.get("_functional_base", cls), config, custom_objects)

    def get_build_config(self):
        return {"input_shape": None}          # Keras 3 too: the graph, not a shape, builds a functional model


# Keras only finds Functional under its private module path in a file, so that is what shendu writes too
register_model_class(Functional, module="keras.src.models.functional", registered_name="Functional")


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

def functional_config(model) -> dict:
    """Keras 3's Functional config: every layer with its calls, then input_layers and output_layers."""
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
            entry = input_layer_entry(layer.batch_shape, layer.output.dtype, layer.name)
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

def functional_from_config(cls, config: dict, custom_objects=None):
    """Keras's ``functional_from_config``: create every layer, then replay the recorded calls in layer
    order, deferring a call until the tensors it needs exist; ``cls(inputs, outputs)`` is the model.
    Reads Keras 3's calls (``args``/``kwargs`` holding ``__keras_tensor__`` references) and tf.keras 2's
    (``[[layer name, node index, tensor index, kwargs], ...]``)."""
    ctx = custom_objects if isinstance(custom_objects, Context) else Context(custom_objects)
    if not isinstance(config, dict) or not all(k in config for k in ("layers", "input_layers", "output_layers")):
        keys = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise LoadError(f"{ctx.source}: a functional model's config needs 'layers', 'input_layers' and "
                        f"'output_layers'; got {keys}.")
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
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


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
