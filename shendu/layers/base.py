"""``Layer``: the unit models are built from, with Keras's life cycle.

``__init__`` stores the configuration, ``build(input_shape)`` creates the weights lazily from the
first input's shape (``add_weight``), ``call(inputs, training=None, mask=None)`` holds the math,
``get_config()`` returns the constructor arguments for saving. ``__call__`` does the chores once
for every layer: converting inputs, building, the training flag, masks and the functional API.
"""
from __future__ import annotations

import contextlib
import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from shendu import autograd, backend
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.symbolic import KerasTensor, Node, flatten, is_symbolic, map_structure
from shendu.layers.tracking import GraphAccess, GraphAttribute, LossesAndMetrics, loss_holders
from shendu.metrics.base import Metric
from shendu.tensor import Tensor

_name_counts: dict[str, int] = defaultdict(int)


def unique_name(base: str) -> str:
    """'dense', then 'dense_1', 'dense_2', ... as Keras names layers."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Forget the layer-name counters (Keras's ``clear_session``)."""
    _name_counts.clear()


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class _CallContext(threading.local):
    training = None
    depth = 0          # how many layer calls are open: 0 means the next call is an outermost one


_context = _CallContext()


@contextlib.contextmanager
def _training_scope(training):
    previous = _context.training
    _context.training = training
    try:
        yield
    finally:
        _context.training = previous


def _dtype_name(dtype) -> str:
    if isinstance(dtype, dict):        # Keras 3's DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    return np.dtype(dtype if dtype is not None else backend.floatx).name


def as_input(x):
    """Arrays, lists and numbers become Tensors (float64 NumPy data becomes the layer's float type)."""
    if isinstance(x, (Tensor, KerasTensor)) or x is None:
        return x
    return Tensor._wrap(backend.asarray(x), False)


class Layer(GraphAccess, LossesAndMetrics):
    """Base class of all layers (see the module docstring for the life cycle)."""

    _ALLOWED_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "input_dim", "weights",
                       "activity_regularizer", "autocast", "input_length"}

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, **kwargs):
        unknown = set(kwargs) - self._ALLOWED_KWARGS
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {sorted(unknown)}. "
                            f"Check the spelling against the layer's documented arguments.")
        # a subclass may assign attributes (even sublayers and metrics) before calling super().__init__()
        self.__dict__.setdefault("_sublayers", [])
        self.__dict__.setdefault("_metrics", [])
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = trainable
        self.dtype = _dtype_name(dtype)
        self.built = False
        self.supports_masking = False
        self._own_weights: list[Tensor] = []
        self._weight_regularizers: list = []
        self._losses: list = []              # add_loss values of the last call, cleared at each outermost call
        self._callable_losses: list = []     # add_loss(zero-argument function): evaluated whenever losses is read
        self.activity_regularizer = regularizers_module.get(kwargs.get("activity_regularizer"))
        self._initial_weights = kwargs.get("weights")
        shape = kwargs.get("batch_input_shape")
        if shape is None and kwargs.get("input_shape") is not None:
            shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        if shape is None and kwargs.get("input_dim") is not None:      # tf.keras 2 spelling: Dense(input_dim=8)
            shape = (kwargs.get("batch_size"), kwargs["input_dim"])
        self._batch_input_shape = tuple(shape) if shape is not None else None
        self._inbound_nodes: list[Node] = []
        self._build_shape = None

    # ------------------------------------------------------------ tracking
    def __getattr__(self, key):
        # reached only when an attribute is missing: before Layer.__init__ has run, say what to move
        if "_own_weights" not in self.__dict__ and not key.startswith("__"):
            raise AttributeError(f"{type(self).__name__}.{key} is not set up yet: Layer.__init__ has not run. Call "
                                 f"super().__init__(...) first in {type(self).__name__}.__init__, before code that "
                                 f"uses the layer (add_weight, weights, calling sublayers).")
        if isinstance(getattr(type(self), key, None), (property, GraphAttribute)):
            return object.__getattribute__(self, key)       # let the property's own AttributeError through
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")

    # ------------------------------------------------------------ tracking
    def __setattr__(self, key, value):
        sublayers = self.__dict__.setdefault("_sublayers", [])
        metrics = self.__dict__.setdefault("_metrics", [])
        if isinstance(value, Layer) and not key.startswith("_") and value not in sublayers:
            sublayers.append(value)
        elif isinstance(value, (list, tuple)) and not key.startswith("_") and value and all(
                isinstance(v, Layer) for v in value):
            for v in value:
                if v not in sublayers:
                    sublayers.append(v)
        if isinstance(self.__dict__.get(key), Metric) and self.__dict__[key] is not value:
            metrics[:] = [m for m in metrics if m is not self.__dict__[key]]      # a metric attribute replaced
        for m in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(m, Metric) and not any(known is m for known in metrics):
                metrics.append(m)             # Keras tracks every Metric attribute (or list of them) for model.metrics
        object.__setattr__(self, key, value)

    @property
    def layers(self):
        return list(self._sublayers)

    def _flat_layers(self):
        """This layer's sublayers, depth-first, each once."""
        seen, out, stack = set(), [], list(reversed(self._sublayers))
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers))
        return out

    # ------------------------------------------------------------ weights
    def add_weight(self, name=None, shape=(), initializer=None, dtype=None, trainable=True, regularizer=None,
                   constraint=None) -> Tensor:
        """Create a weight of ``shape`` filled by ``initializer`` and register it with this layer."""
        dtype = np.dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        init = initializers_module.get(initializer)
        value = backend.asarray(init(tuple(shape), dtype=dtype)).astype(dtype)
        w = Tensor(value, requires_grad=trainable and dtype.kind == "f", name=name)
        w.trainable = trainable
        w.path = f"{self.name}/{name}"
        w.constraint = constraint
        self._own_weights.append(w)
        regularizer = regularizers_module.get(regularizer)
        if regularizer is not None:
            self._weight_regularizers.append((regularizer, w))
        return w

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._flat_layers():
            layer._trainable = bool(value)

    @property
    def weights(self) -> list[Tensor]:
        """All weights, this layer's own first, then its sublayers', each once (Keras's order)."""
        out, seen = [], set()
        for w in self._own_weights + [w for layer in self._sublayers for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[Tensor]:
        if not self.trainable:
            return []
        own = [w for w in self._own_weights if w.trainable]
        return _unique(own + [w for layer in self._sublayers for w in layer.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Tensor]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in tf.keras's order and layouts."""
        return [backend.to_numpy(w.data).copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load NumPy arrays into the weights; counts and shapes must match ``get_weights()``."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {len(mine)} weight arrays "
                             f"(shapes {[tuple(w.shape) for w in mine]}) but got {len(weights)}.")
        for w, value in zip(mine, weights):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(w.shape):
                raise ValueError(f"Layer '{self.name}' ({type(self).__name__}): weight '{w.name}' has shape "
                                 f"{tuple(w.shape)} but the value given has shape {tuple(value.shape)}.")
            w.data = backend.asarray(value).astype(w.dtype)

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ------------------------------------------------------------ life cycle
    def build(self, input_shape) -> None:
        """Create the weights from the input shape (batch axis included, as None)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        return inputs

    def compute_mask(self, inputs, mask=None):
        """The mask of the output: passed through when the layer supports masking, else dropped."""
        return mask if self.supports_masking else None

    def _maybe_build(self, inputs) -> None:
        if self.built:
            return
        shapes = map_structure(lambda t: (None,) + tuple(t.shape[1:]) if t is not None and hasattr(t, "shape") else None,
                               inputs)
        if self._batch_input_shape is not None and not isinstance(inputs, (list, tuple)):
            self._check_input_shape(shapes)
        self._build_shape = shapes
        self.build(shapes)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _check_input_shape(self, shape) -> None:
        expected = self._batch_input_shape
        if len(shape) != len(expected) or any(e is not None and g is not None and e != g
                                               for e, g in zip(expected[1:], shape[1:])):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was declared with input_shape "
                             f"{expected[1:]} but is called on input of shape {tuple(shape[1:])} "
                             f"(batch axis left out).")

    @classmethod
    def _call_signature(cls):
        cache = cls.__dict__.get("_signature_cache")
        if cache is None:
            params = inspect.signature(cls.call).parameters
            var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
            cache = ("training" in params or var_kw, "mask" in params or var_kw)
            cls._signature_cache = cache
        return cache

    def __call__(self, inputs, *args, **kwargs):
        if is_symbolic((inputs, args, kwargs)):
            return self._symbolic_call(inputs, *args, **kwargs)
        inputs = map_structure(as_input, inputs)
        self._maybe_build(inputs)
        inputs = map_structure(self._cast_input, inputs)
        accepts_training, accepts_mask = self._call_signature()
        training = kwargs.pop("training", None)
        if training is None:
            training = _context.training
        if accepts_training:
            kwargs["training"] = training
        mask = kwargs.pop("mask", None)
        if mask is None:
            masks = map_structure(lambda t: getattr(t, "_keras_mask", None), inputs)
            mask = masks if any(m is not None for m in flatten(masks)) else None
        if accepts_mask and mask is not None:
            kwargs["mask"] = mask
        if _context.depth == 0:
            self._clear_losses()              # an outermost call starts a fresh list of losses
        _context.depth += 1
        try:
            with _training_scope(training):
                outputs = self.call(inputs, *args, **kwargs)
        finally:
            _context.depth -= 1
        if self.activity_regularizer is not None:       # penalty per sample, as Keras divides by the batch size
            self._losses.extend(self.activity_regularizer(o) / o.shape[0] for o in flatten(outputs)
                                if isinstance(o, Tensor))
            loss_holders.add(self)
        out_mask = self.compute_mask(inputs, mask)
        if out_mask is not None:
            # one mask per output when a list is returned, else the mask belongs to the first output
            masks = list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask]
            for o, m in zip(flatten(outputs), masks):
                if isinstance(o, Tensor) and m is not None:
                    o._keras_mask = m.data if isinstance(m, Tensor) else m
        return outputs

    def _cast_input(self, x):
        if isinstance(x, Tensor) and x.dtype.kind == "f" and x.dtype != self.dtype and self.dtype[0] == "f":
            from shendu.ops import cast
            y = cast(x, self.dtype)
            if getattr(x, "_keras_mask", None) is not None:
                y._keras_mask = x._keras_mask
            return y
        return x

    def _symbolic_call(self, inputs, *args, **kwargs):
        """Functional API: record a node and infer the output shapes by a dry run on small dummy batches."""
        self._maybe_build(inputs)

        def dummy(fill):
            def make(t):
                if not isinstance(t, KerasTensor):
                    return t
                shape = tuple(2 if i == 0 and d is None else (fill if d is None else d) for i, d in enumerate(t.shape))
                return Tensor._wrap(backend.xp.zeros(shape, t.dtype), False)
            return make

        unknown = any(d is None for t in flatten((inputs, args, kwargs)) if isinstance(t, KerasTensor)
                      for d in t.shape[1:])
        runs = []
        for fill in ((3, 4) if unknown else (3,)):
            make = dummy(fill)
            with autograd.no_grad():
                out = self.__call__(map_structure(make, inputs), *map_structure(make, args),
                                    **{**map_structure(make, kwargs), "training": False})
            runs.append(out)

        self._clear_losses()          # the dry runs' add_loss values are not losses of any real batch
        for m in self.metrics:        # nor are their add_metric values
            m.reset_state()
        node = Node(self, (inputs,) + args, kwargs, None)

        def symbolic(*outs):
            shape = [None] + [d if all(o.shape[i] == d for o in outs) else None
                              for i, d in enumerate(outs[0].shape) if i > 0]
            return KerasTensor(shape, outs[0].dtype.name, node)

        flat_runs = [flatten(r) for r in runs]
        sym = [symbolic(*outs) for outs in zip(*flat_runs)]
        for i, s in enumerate(sym):
            s.index = i
        it = iter(sym)
        node.outputs = map_structure(lambda _: next(it), runs[0])
        self._inbound_nodes.append(node)
        return node.outputs

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": self.dtype},
                            "registered_name": None}}
        if self.activity_regularizer is not None:      # Keras saves it only when set
            config["activity_regularizer"] = regularizers_module.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _unique(tensors):
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out
