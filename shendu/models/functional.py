"""The functional API: ``Model(inputs, outputs)`` replays the graph of layer calls recorded on ``Input``s."""
from __future__ import annotations

from shendu.layers.core import InputLayer, conform_rank
from shendu.layers.symbolic import KerasTensor, flatten, map_shapes, map_structure
from shendu.models.config import functional_config, keras_layer_order
from shendu.models.model import Model
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
        for node in self._nodes:
            args = map_structure(lookup, node.args)
            kwargs = map_structure(lookup, node.kwargs)
            out = node.layer(*args, **kwargs)
            for sym, real in zip(flatten(node.outputs), flatten(out)):
                computed[id(sym)] = real
        return map_structure(lookup, self._outputs_struct)

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
        return functional_config(self)
