"""``Sequential``: a plain stack of layers, each feeding the next.

Its config (Keras 3's) lists its layers, an ``InputLayer`` entry with ``batch_shape`` first when the
input shape is known, and ``build_input_shape``."""
from __future__ import annotations

import warnings

import numpy as np

from shendu import backend
from shendu.layers.base import Layer, extends_shape
from shendu.layers.core import InputLayer, conform_rank
from shendu.layers.symbolic import KerasTensor, flatten
from shendu.models.model import Model
from shendu.saving.config import Context, LoadError, deserialize_layer, input_layer_entry, serialize_layer
from shendu.saving.registry import register_model_class
from shendu.tensor import Tensor


class Sequential(Model):
    """``Sequential([Dense(64, activation='relu', input_shape=(784,)), Dense(10, activation='softmax')])``.

    A Conv2D (relu or no activation, stride 1) followed by a MaxPooling2D that tiles its output runs as one
    op, ``conv2d_act_pool``: the same numbers, without writing the convolution's output whole.
    ``model.fuse_conv_pool = False`` runs them as two layers (to step through or profile each)."""
    fuse_conv_pool = True

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack: list[Layer] = []
        self._input_batch_shape = None
        self._input_dtype = None
        self._shape_from_data = False     # built from the first batch, not declared: later lengths may differ
        self._graph = None            # (input tensor, output tensors) of the symbolic build
        self._graph_nodes = []        # (layer, node) recorded by that build
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._stack)

    def add(self, layer) -> None:
        """Append a layer; an ``Input(...)`` or ``InputLayer`` fixes the input shape."""
        if isinstance(layer, KerasTensor) and hasattr(layer, "input_layer"):
            layer = layer.input_layer
        if isinstance(layer, InputLayer):
            self._input_batch_shape = layer.batch_shape
            self._input_dtype = layer.output.dtype
            self._shape_from_data = False
            self.built = False
            self._maybe_build_from_shape()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer instance, got {layer!r} ({type(layer).__name__})."
                            + (" Did you forget the parentheses, e.g. Flatten() instead of Flatten?"
                               if isinstance(layer, type) else ""))
        if any(layer is other for other in self._stack):
            raise ValueError(f"Layer '{layer.name}' is already in this Sequential model.")
        if not self._stack and self._input_batch_shape is None and layer._batch_input_shape is not None:
            self._input_batch_shape = layer._batch_input_shape
        self._stack.append(layer)
        self._sublayers.append(layer)
        self.built = False
        self._maybe_build_from_shape()

    def pop(self):
        layer = self._stack.pop()
        self._sublayers.remove(layer)
        layer._inbound_nodes[:] = [n for n in layer._inbound_nodes if all(n is not m for _, m in self._graph_nodes)]
        self._graph_nodes = [(owner, n) for owner, n in self._graph_nodes if owner is not layer]
        self.built = False
        self._graph = None
        self._maybe_build_from_shape()
        return layer

    def _maybe_build_from_shape(self):
        if self._input_batch_shape is not None and self._stack:
            self.build(self._input_batch_shape)

    def build(self, input_shape=None):
        """Build every layer by calling it on a symbolic input, as Keras does: nothing is computed (each output
        comes from the layer's ``compute_output_spec``); each layer records its output shape, and
        ``model.inputs``/``outputs`` and ``layer.input``/``output`` exist for new models built from this one's
        intermediate tensors."""
        if input_shape is None and self._input_batch_shape is None:
            raise ValueError(f"Sequential model '{self.name}' has no input shape to build from: call "
                             f"build(input_shape) with the batch axis first, e.g. build((None, 784)), or start "
                             f"the model with keras.Input(shape=(784,)).")
        if not self._stack:
            raise ValueError(f"Sequential model '{self.name}' has no layers to build; add layers first.")
        input_shape = tuple(input_shape if input_shape is not None else self._input_batch_shape)
        self._input_batch_shape = input_shape
        for layer, node in self._graph_nodes:          # a rebuild (after add or pop) replaces the old graph
            layer._inbound_nodes[:] = [n for n in layer._inbound_nodes if n is not node]
        self._graph_nodes = []
        # Embedding wants integer ids
        dtype = self._input_dtype or getattr(self._stack[0], "input_dtype", None) or backend.floatx
        dtype = dtype if dtype == "string" else np.dtype(dtype).name
        x = inputs = InputLayer(batch_shape=input_shape, dtype=dtype).output
        for layer in self._stack:
            x = layer(x)
            self._graph_nodes.extend((layer, n) for n in layer._inbound_nodes[-1:])
            layer._output_shape = x.shape if isinstance(x, KerasTensor) else [t.shape for t in flatten(x)]
        self._graph = (inputs, x)
        self.built = True

    def compute_output_spec(self, inputs, *args, **kwargs):
        x = inputs
        for layer in self._stack:
            x = _symbolic_step(layer, x)
        return x

    def compute_output_shape(self, input_shape):
        return self.compute_output_spec(KerasTensor(input_shape, self._input_dtype or backend.floatx)).shape

    @property
    def inputs(self):
        return [self._symbolic_graph("inputs")[0]]

    @property
    def outputs(self):
        return flatten(self._symbolic_graph("outputs")[1])

    @property
    def input(self):
        return self._symbolic_graph("input")[0]

    @property
    def output(self):
        return self._symbolic_graph("output")[1]

    def _symbolic_graph(self, what):
        if self._graph is None:
            raise ValueError(f"Sequential model '{self.name}' has no defined {what} yet: it is built when it knows its "
                             f"input shape. Start it with keras.Input(shape=...) or give the first layer input_shape.")
        return self._graph

    @property
    def input_shape(self):
        return self._input_batch_shape

    @property
    def output_shape(self):
        return self._stack[-1]._output_shape if self._stack and hasattr(self._stack[-1], "_output_shape") else None

    def call(self, inputs, training=None):
        if self._input_batch_shape is not None and not isinstance(inputs, (list, tuple)) \
                and not self._shape_from_data:
            expected = self._input_batch_shape
            inputs = conform_rank(inputs, expected)
            if extends_shape(tuple(inputs.shape), expected):
                warnings.warn(f"Sequential model '{self.name}' was constructed with input shape {expected} but is "
                              f"called on an input of larger rank, shape {(None,) + tuple(inputs.shape[1:])}; its "
                              f"layers are applied to it as they are (tf.keras 2's behaviour).", stacklevel=3)
            elif len(inputs.shape) != len(expected) or any(
                    e is not None and e != g for e, g in zip(expected[1:], inputs.shape[1:])):
                raise ValueError(f"Sequential model '{self.name}' expects input of shape {expected} (None is the "
                                 f"batch axis) but got {tuple(inputs.shape)}.")
        x = _cast_to_input_dtype(inputs, getattr(self._stack[0], "input_dtype", None) if self._stack else None)
        stack, i = self._stack, 0
        while i < len(stack):
            layer = stack[i]
            after = stack[i + 1] if i + 1 < len(stack) else None
            if (self.fuse_conv_pool and after is not None and isinstance(x, Tensor)
                    and getattr(layer, "fuses_pool", None) is not None and layer.fuses_pool(after)):
                x = layer.call_pooled(x, after)     # Conv2D then MaxPooling2D, as one op (conv2d_act_pool)
                i += 2
                continue
            x = layer(x)
            i += 1
        return x

    def _maybe_build(self, inputs):
        if isinstance(inputs, dict):
            raise ValueError(f"Sequential model '{self.name}' has a single input and takes one array, got a dict "
                             f"with keys {sorted(map(str, inputs))}. Pass the array itself (model.predict(x)), or "
                             "build a functional Model from named inputs, keras.Input(shape, name='...'), to feed "
                             "a dict.")
        if not self.built:
            symbolic = isinstance(inputs, KerasTensor)
            self._shape_from_data = not symbolic and self._input_batch_shape is None
            self.build(tuple(inputs.shape) if symbolic else (None,) + tuple(inputs.shape[1:]))

    def get_config(self):
        """Keras 3's config: name, trainable, dtype, layers (InputLayer first), build_input_shape."""
        layers = []
        shape = self.input_shape
        if shape is not None:
            dtype = getattr(self._stack[0], "input_dtype", None) if self._stack else None
            dtype = dtype if dtype == "string" else np.dtype(dtype or backend.floatx).name
            layers.append(input_layer_entry(shape, dtype, "input_layer"))
        layers.extend(serialize_layer(layer) for layer in self._stack)
        dtype_policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": self.dtype},
                        "registered_name": None}
        config = {"name": self.name, "trainable": self.trainable, "dtype": dtype_policy, "layers": layers}
        if shape is not None:
            config["build_input_shape"] = list(shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The model ``get_config()`` describes (Keras 3's or tf.keras 2's), with new layers from shendu's
        registry or ``custom_objects``; nothing named in the config is imported."""
        ctx = custom_objects if isinstance(custom_objects, Context) else Context(custom_objects)
        if not isinstance(config, dict) or "layers" not in config:
            keys = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise LoadError(f"{ctx.source}: a Sequential config needs a 'layers' list; its keys are {keys}.")
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry, ctx, build=False))
        shape = config.get("build_input_shape")
        if not model.built and shape and model.layers:
            model.build(tuple(shape))
        return model

    def get_build_config(self):
        """Keras's ``get_build_config()``: the input shape it was built for, or None when unbuilt."""
        shape = self.input_shape
        return {"input_shape": list(shape)} if self.built and shape is not None else None


register_model_class(Sequential, module="keras")


def _symbolic_step(layer, x):
    """One layer applied to symbolic ``x`` without recording a node: build it, then infer its output."""
    layer._check_input_spec(x)
    layer._maybe_build(x)
    return layer.compute_output_spec(x)


def _cast_to_input_dtype(x, dtype=None):
    """Integer or boolean data (raw uint8 pixels, 0/1 features) enters as the float type, as a Keras
    Input layer would convert it; layers that want integer ids (Embedding) say so with ``input_dtype``."""
    if isinstance(x, Tensor) and x.dtype.kind in "iub":
        if dtype is not None:
            return x if backend.xp.dtype(dtype).kind in "iu" else x.astype(dtype)
        return x.astype(backend.floatx)
    return x
