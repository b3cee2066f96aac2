"""``Layer``: the unit models are built from, with Keras's life cycle.

``__init__`` stores the configuration, ``build(input_shape)`` creates the weights lazily from the
first input's shape (``add_weight``), ``call(inputs, training=None, mask=None)`` holds the math,
``get_config()`` returns the constructor arguments for saving. ``__call__`` does the chores once
for every layer: converting inputs, building, the training flag, masks and the functional API.

Shapes, the convention every layer follows:

- A shape is a tuple with the batch axis first; ``None`` is an unknown size. Symbolic tensors
  (``Input(shape=(None, 8))``) keep the batch size when one was given (``Input(batch_size=8)``).
- ``compute_output_shape(input_shape)`` returns the output shape (a list of shapes for several
  outputs) by arithmetic on the input shape alone: unknown axes stay None, the batch axis is passed
  through, never replaced. A layer called on a list receives a list of shapes. It may raise a
  ValueError naming the shape it cannot accept. Every built-in layer has one; the functional API
  calls it (through ``compute_output_spec``) instead of running the layer.
- ``compute_output_spec(inputs, *args, **kwargs)`` turns those shapes into KerasTensors with a
  dtype: the layer's float type, or the input's dtype when the class sets ``keeps_input_dtype``
  (Flatten, Reshape, Permute: the layers whose symbolic output keeps the input dtype in Keras 3). Override it when the dtype depends on arguments or the
  shape depends on call arguments other than the inputs (MultiHeadAttention's value and key).
- A layer without ``compute_output_shape`` (Lambda without ``output_shape``, a user's layer) is
  dry-run on zeros, twice with different sizes for the unknown axes; output axes that change
  become None, and error messages show the symbolic shapes, never the sample sizes.
- ``build(input_shape)`` creates weights; layers without weights call ``self._build_at_init()`` at
  the end of ``__init__`` (as Keras 3's stateless layers do) and check inputs with ``input_spec``
  (``layers.input_spec.InputSpec``), which ``__call__`` checks on every real and symbolic call.
"""
from __future__ import annotations

import functools
import inspect
import re
import threading
from collections import defaultdict

import numpy as np

from shendu import autograd, backend
from shendu import constraints as constraints_module
from shendu.ops import cast
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.dtype_policy import DTypePolicy
from shendu.layers.input_spec import check_input_spec
from shendu.layers.symbolic import (TRIAL_SIZES, KerasTensor, Node, flatten, is_symbolic, map_shapes, map_structure,
                                    merge_shapes, shape_str, standardize_shape, trial_dtype, trial_shape,
                                    without_trial_sizes)
from shendu.layers.symbolic_masks import attach_symbolic_masks, trial_tensor
from shendu.layers.tracking import (GraphAccess, GraphAttribute, LossesAndMetrics, loss_holders, metric_owners,
                                    penalty_holders)
from shendu.metrics.base import Metric
from shendu.tensor import Tensor
from shendu.variable import Variable

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
    # during a dry run: {id(layer): (layer, {run: input shapes})} for the sublayers the run builds
    dry_run_builds = None
    dry_run_index = 0
    depth = 0          # how many layer calls are open: 0 means the next call is an outermost one


_context = _CallContext()


def _dtype_name(dtype) -> str:
    if isinstance(dtype, DTypePolicy):
        return dtype.name
    if isinstance(dtype, dict):        # Keras 3's DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    if dtype in ("string", "str", str, bytes) or getattr(dtype, "name", None) == "string":
        return "string"              # Keras's name for text inputs (NumPy arrays of str)
    return backend.dtype(dtype if dtype is not None else backend.floatx).name


_FLOAT_NAMES = ("float16", "float32", "float64", "bfloat16")


def out_of_scope(who: str, what: str) -> NotImplementedError:
    """The error for Keras 3's quantization and LoRA features, which shendu does not implement."""
    feature = "LoRA (low-rank adaptation)" if "lora" in what else "quantization (int8/int4/float8)"
    return NotImplementedError(f"{who}: {what} asks for {feature}, which is out of scope for shendu; train and "
                               "run the layer in float32 (or float64), or use Keras 3 for this feature.")


def as_input(x):
    """Arrays, lists and numbers become Tensors (float64 NumPy data becomes the layer's float type)."""
    if isinstance(x, (Tensor, KerasTensor)) or x is None:
        return x
    return Tensor._wrap(backend.asarray(x), False)


def rows_of_numbers(inputs, who: str):
    """A nested Python list of numbers is one array (tf.keras 2 converts it), not a list of inputs; rows of
    different lengths make no array, which the error says (naming ``who`` got them) before NumPy or a
    layer's build trips on it. Anything else comes back as it was."""
    if not isinstance(inputs, (list, tuple)) or not inputs or not all(isinstance(row, (list, tuple)) for row in inputs):
        return inputs
    stack, lengths = list(inputs), [len(row) for row in inputs]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, (int, float, np.integer, np.floating)):
            return inputs                     # tensors or arrays inside: a structure of inputs
    try:
        rows = np.asarray(inputs)
    except ValueError:
        raise ValueError(f"{who} was called on a ragged Python list (rows of "
                         f"lengths {lengths[:10]}{' ...' if len(lengths) > 10 else ''}); a layer needs a rectangular "
                         "array. Pad the rows to one length with keras.utils.pad_sequences(rows), or pass a NumPy "
                         "array of equal-length rows.") from None
    return rows.astype(backend.floatx) if rows.dtype.kind == "f" else rows      # Python floats become floatx


class Layer(GraphAccess, LossesAndMetrics):
    """Base class of all layers (see the module docstring for the life cycle)."""

    _ALLOWED_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "input_dim", "weights",
                       "activity_regularizer", "autocast", "input_length"}

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None, **kwargs):
        for key in ("lora_rank", "lora_alpha", "quantization_config"):
            if kwargs.pop(key, None) is not None:
                raise out_of_scope(type(self).__name__, key)
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
        for key, what in (("input_shape", "one sample (without the batch axis)"), ("batch_input_shape", "a batch")):
            value = kwargs.get(key)
            if value is not None and not isinstance(value, (tuple, list)):
                fix = f"({value!r},)" if key == "input_shape" else f"(None, {value!r})"
                raise ValueError(f"{type(self).__name__} got {key}={value!r}, but {key} is a tuple of the sizes of "
                                 f"{what}: write {key}={fix}.")
        shape = kwargs.get("batch_input_shape")
        if shape is None and kwargs.get("input_shape") is not None:
            shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        if shape is None and kwargs.get("input_dim") is not None:      # tf.keras 2 spelling: Dense(input_dim=8)
            shape = (kwargs.get("batch_size"), kwargs["input_dim"])
        self._batch_input_shape = tuple(shape) if shape is not None else None
        self._inbound_nodes: list[Node] = []
        self._build_shape = None
        self.input_spec = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marking_built(build)

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
        elif isinstance(value, Variable) and "_own_weights" in self.__dict__ and all(   # self.w = tf.Variable(...)
                value is not w for w in self._own_weights):
            self._own_weights.append(value)
        if isinstance(self.__dict__.get(key), Metric) and self.__dict__[key] is not value:
            metrics[:] = [m for m in metrics if m is not self.__dict__[key]]      # a metric attribute replaced
        for m in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(m, Metric) and not any(known is m for known in metrics):
                metrics.append(m)             # Keras tracks every Metric attribute (or list of them) for model.metrics
                metric_owners.add(self)
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
        dtype = backend.dtype(dtype or self.dtype)
        is_float = backend.is_float(dtype)
        if initializer is None:
            initializer = "glorot_uniform" if is_float else "zeros"
        init = initializers_module.get(initializer)
        value = backend.asarray(init(tuple(shape), dtype=dtype)).astype(dtype)
        w = Tensor(value, requires_grad=trainable and is_float, name=name)
        w.trainable = trainable
        w.path = f"{self.name}/{name}"
        w.constraint = constraints_module.get(constraint)     # the optimizer applies it after each update
        self._own_weights.append(w)
        regularizer = regularizers_module.get(regularizer)
        if regularizer is not None:
            self._weight_regularizers.append((regularizer, w))
            penalty_holders.add(self)
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

    @property
    def dtype_policy(self) -> DTypePolicy:
        """The layer's dtype as Keras 3's policy object (``.name``, ``.variable_dtype``, ``.compute_dtype``)."""
        return DTypePolicy(self.dtype)

    @property
    def compute_dtype(self) -> str:
        return self.dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype

    def own_variables(self) -> list[Tensor]:
        """This layer's own weights (not its sublayers') in Keras's saving order: trainable, then the rest."""
        own = list(self._own_weights)
        return [w for w in own if w.trainable] + [w for w in own if not w.trainable]

    def save_own_variables(self, store) -> None:
        """Keras's saving hook: this layer's own weights as ``store["0"]``, ``store["1"]``, ... (copies)."""
        for i, w in enumerate(self.own_variables()):
            store[str(i)] = w.numpy()

    def load_own_variables(self, store) -> None:
        """Keras's loading hook, the inverse of ``save_own_variables``; checks the count and each shape."""
        own = self.own_variables()
        if len(store.keys()) != len(own):
            raise ValueError(f"Layer '{self.name}' expected {len(own)} variables, but received {len(store.keys())} "
                             f"variables during loading. Expected: {[w.name for w in own]}"
                             + ("" if self.built or own else "; the layer was never built: build it (or call it "
                                "once) before loading its variables"))
        for i, w in enumerate(own):
            w.assign(store[str(i)])

    def quantize(self, mode=None, **kwargs):
        """Keras 3's post-training quantization: out of scope for shendu (raises NotImplementedError)."""
        raise out_of_scope(type(self).__name__, f"quantize(mode={mode!r})")

    def enable_lora(self, rank=None, **kwargs):
        """Keras 3's LoRA fine-tuning: out of scope for shendu (raises NotImplementedError)."""
        raise out_of_scope(type(self).__name__, f"enable_lora(rank={rank!r})")

    def count_params(self) -> int:
        """The number of scalars in this layer's weights; like Keras, an unbuilt layer has none to count yet."""
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet, so it has no weights to count. "
                             f"Build it first: call {self.name}.build(input_shape), call it on data, or start the "
                             "model with keras.Input(shape=...) so its weights are made when the layers are added.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ------------------------------------------------------------ life cycle
    def build(self, input_shape) -> None:
        """Create the weights from the input shape (symbolic inputs: their batch size or None; real ones: None)."""
        self.built = True

    def _build_at_init(self) -> None:
        """Mark a layer without weights as built at once (Keras 3 does this for its stateless layers:
        activations, dropout, pooling, Reshape, Masking). Call it last in ``__init__``; ``build`` is then
        never called, so such a layer checks its inputs with ``input_spec``, not in ``build``.
        A subclass that defines its own ``build`` is left unbuilt, so its ``build`` still runs on first call."""
        if type(self).build is Layer.build:
            self.built = True

    def call(self, inputs, *args, **kwargs):
        return inputs

    def compute_mask(self, inputs, mask=None):
        """The mask of the output: passed through when the layer supports masking, else dropped."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape``, unknown axes (None) kept unknown.

        Layers with a shape rule override this (see the module docstring). This default, for layers
        without one (a Lambda, a user's layer), runs the layer on zeros with the unknown axes filled
        by sample sizes, twice with different sizes, and reports as None every output axis that
        followed them; the sample sizes never appear in the result or in an error message.
        """
        specs = map_shapes(lambda s: None if s is None else KerasTensor(s, self._input_dtype_hint()), input_shape)
        out = self._dry_run_spec(specs, (), {})
        return map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, out)

    def compute_output_spec(self, inputs, *args, **kwargs):
        """KerasTensors (shape and dtype, no values) for a call on symbolic ``inputs``, without running it.

        The shape comes from ``compute_output_shape``, the dtype is the layer's float type (or the
        input's, when ``keeps_input_dtype``). Layers without ``compute_output_shape`` are dry-run.
        """
        if not _has_shape_rule(self):
            return self._dry_run_spec(inputs, args, kwargs)
        shapes = map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else t, inputs)
        if isinstance(inputs, (list, tuple)):
            shapes = list(shapes)
        out_shapes = self.compute_output_shape(shapes)
        dtype = self._output_dtype(inputs)
        return map_shapes(lambda s: None if s is None else KerasTensor(standardize_shape(s), dtype), out_shapes)

    keeps_input_dtype = False
    """True for layers whose symbolic output has the input's dtype (Keras 3: Flatten, Reshape, Permute)."""

    def _output_dtype(self, inputs) -> str:
        first = next((t for t in flatten(inputs) if isinstance(t, KerasTensor)), None)
        return first.dtype if first is not None and self.keeps_input_dtype else self.dtype

    def _input_dtype_hint(self) -> str:
        return getattr(self, "input_dtype", None) or self.dtype

    def _dry_run_spec(self, inputs, args, kwargs):
        """Output KerasTensors found by calling the layer on zeros (see ``compute_output_shape``)."""
        symbols = [t for t in flatten((inputs, args, kwargs)) if isinstance(t, KerasTensor)]
        unknown = any(d is None for t in symbols for d in t.shape)
        runs = []
        outer = (_context.dry_run_builds, _context.dry_run_index)
        _context.dry_run_builds = {}
        try:
            for index, (batch, fill) in enumerate(TRIAL_SIZES if unknown else TRIAL_SIZES[:1]):
                _context.dry_run_index = index
                try:
                    runs.append(self._trial_call(inputs, args, kwargs, batch, fill))
                except Exception as error:   # the sample sizes must not reach the user: see without_trial_sizes
                    raise self._dry_run_error(error, inputs, args, kwargs, symbols, unknown) from None
            built = _context.dry_run_builds
        finally:
            _context.dry_run_builds, _context.dry_run_index = outer
        self._clear_losses()          # the dry runs' add_loss values are not losses of any real batch
        for m in self.metrics:        # nor are their add_metric values
            m.reset_state()
        for layer, shapes in built.values():
            # a sublayer first built on sample data keeps as None the sizes that changed between the runs
            if 0 in shapes and 1 in shapes:
                layer._build_shape = merge_shapes(shapes[0], shapes[1])

        def symbolic(*outs):
            if not isinstance(outs[0], Tensor):
                return outs[0]
            shape = [d if all(o.shape[i] == d for o in outs) else None for i, d in enumerate(outs[0].shape)]
            return KerasTensor(shape, outs[0].dtype.name)

        flat = [symbolic(*outs) for outs in zip(*[flatten(r) for r in runs])]
        it = iter(flat)
        return map_structure(lambda _: next(it), runs[0])

    def _trial_call(self, inputs, args, kwargs, batch, fill):
        """One dry run: every unknown axis of the symbolic inputs becomes ``fill`` (the batch axis ``batch``)."""
        def make(t):
            return trial_tensor(t, batch, fill)

        with autograd.no_grad():
            return self.__call__(map_structure(make, inputs), *map_structure(make, args),
                                 **{**map_structure(make, kwargs), "training": False})

    def _dry_run_error(self, error, inputs, args, kwargs, symbols, unknown):
        """The error of the first dry run, its sample sizes written back as None: the numbers that change
        when the run is repeated with other sizes are the ones that came from them."""
        (batch, fill), (batch2, fill2) = TRIAL_SIZES
        other = None
        if unknown:
            try:
                self._trial_call(inputs, args, kwargs, batch2, fill2)
            except Exception as second:
                other = second if type(second) is type(error) else None
        pairs = [(trial_shape(t.shape, batch, fill), t.shape) for t in symbols]
        return without_trial_sizes(self, error, pairs, other)

    def _maybe_build(self, inputs) -> None:
        if self.built:
            return

        def shape_of(t):
            if t is None or not hasattr(t, "shape"):
                return None
            if isinstance(t, KerasTensor):       # symbolic: the batch size when Input gave one
                return tuple(t.shape)
            return (None,) + tuple(t.shape[1:])

        shapes = map_structure(shape_of, inputs)
        if self._batch_input_shape is not None and not isinstance(inputs, (list, tuple)):
            self._check_input_shape(shapes)
        self._build_shape = shapes
        if _context.dry_run_builds is not None:        # built inside a dry run: see _dry_run_spec
            _context.dry_run_builds[id(self)] = (self, {})
        self.build(shapes)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _check_input_shape(self, shape) -> None:
        expected = self._batch_input_shape
        if extends_shape(shape, expected):
            return       # tf.keras 2 ignores input_shape here: Dense(4, input_shape=(8,)) on (None, 10, 8) works
        if len(shape) != len(expected) or any(e is not None and g is not None and e != g
                                               for e, g in zip(expected[1:], shape[1:])):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) was declared with input_shape "
                             f"{expected[1:]} but is called on input of shape {tuple(shape[1:])} "
                             f"(batch axis left out).")

    def _check_input_spec(self, inputs) -> None:
        if self.input_spec is None:
            return
        shapes = map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else None, inputs)
        check_input_spec(self, self.input_spec, shapes)

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
        # one tensor and at most a training flag: the common eager call, which skips the walks over structures
        single = isinstance(inputs, Tensor) and not args and (not kwargs or (len(kwargs) == 1 and "training" in kwargs))
        if not single:
            if is_symbolic((inputs, args, kwargs)):
                return self._symbolic_call(inputs, *args, **kwargs)
            if not self._accepts_strings:
                inputs = rows_of_numbers(inputs, f"{type(self).__name__} layer '{self.name}'")
            inputs = map_structure(as_input, inputs)
        self._check_numeric(inputs)
        self._check_input_spec(inputs)
        self._maybe_build(inputs)
        if _context.dry_run_builds is not None and id(self) in _context.dry_run_builds:
            seen = _context.dry_run_builds[id(self)][1]
            seen.setdefault(_context.dry_run_index, map_structure(
                lambda t: (None,) + tuple(t.shape[1:]) if hasattr(t, "shape") else None, inputs))
        inputs = self._cast_input(inputs) if single else map_structure(self._cast_input, inputs)
        accepts_training, accepts_mask = self._call_signature()
        training = kwargs.pop("training", None)
        previous_training = _context.training
        if training is None:
            training = previous_training
        if accepts_training:
            kwargs["training"] = training
        mask = kwargs.pop("mask", None)
        if mask is None:
            if single:
                mask = getattr(inputs, "_keras_mask", None)
            else:
                masks = map_structure(lambda t: getattr(t, "_keras_mask", None), inputs)
                mask = masks if any(m is not None for m in flatten(masks)) else None
        if accepts_mask and mask is not None:
            kwargs["mask"] = mask
        if _context.depth == 0:
            self._clear_losses()              # an outermost call starts a fresh list of losses
        _context.depth += 1
        _context.training = training          # what the layers called inside see as the default
        try:
            # names the ops for a trace or profiler; BLAS on one thread where shendu's own pool splits the work
            with autograd.layer_scope(self.name), backend.hold_blas():
                outputs = self.call(inputs, *args, **kwargs)
        except autograd.BroadcastError as error:
            if error.layer is not None:           # an inner layer has named itself already
                raise
            shapes = ", ".join(shape_str((None,) + tuple(x.shape[1:])) for x in flatten(inputs) if hasattr(x, "shape"))
            raise autograd.BroadcastError(f"{type(self).__name__} layer '{self.name}' (inputs {shapes}): {error}",
                                          layer=self.name) from error
        finally:
            _context.depth -= 1
            _context.training = previous_training
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

    _accepts_strings = False      # True for the layers that read text (TextVectorization, Lambda, ...)

    def _check_numeric(self, inputs):
        """shendu's numeric layers refuse text with the fix, instead of NumPy's ufunc error deep inside an op."""
        if isinstance(inputs, Tensor) and inputs.dtype.kind not in "USO":
            return                                                        # the common case, at once
        module = type(self).__module__
        if self._accepts_strings or not module.startswith("shendu.layers.") or module == "shendu.layers.wrappers":
            return                                                        # a wrapped layer checks for itself
        for x in flatten(inputs):
            if isinstance(x, Tensor) and x.dtype.kind in "USO":
                raise TypeError(f"{type(self).__name__} layer '{self.name}' got an array of "
                                f"{'objects' if x.dtype.kind == 'O' else 'strings'} (dtype {x.dtype}, shape "
                                f"{tuple(x.shape)}), but it computes with numbers. Turn text into numbers first: a "
                                "TextVectorization layer at the start of the model, or "
                                "keras.preprocessing.text.Tokenizer; numbers stored as text convert with "
                                "x.astype('float32').")

    def _cast_input(self, x):
        if isinstance(x, Tensor) and x.dtype.kind == "f" and x.dtype != self.dtype and self.dtype in _FLOAT_NAMES:
            y = cast(x, self.dtype)
            if getattr(x, "_keras_mask", None) is not None:
                y._keras_mask = x._keras_mask
            return y
        return x

    def _symbolic_call(self, inputs, *args, **kwargs):
        """Functional API: build from the symbolic shapes, record a node, and infer the outputs' shapes and
        dtypes with ``compute_output_spec`` (unknown axes stay None; nothing is computed)."""
        self._check_input_spec(inputs)
        self._maybe_build(inputs)
        # a tensor already in a graph (a spec that returns its input) is copied, never re-attached
        outputs = map_structure(lambda t: KerasTensor(t.shape, t.dtype) if isinstance(t, KerasTensor) and (
            t.node is not None or hasattr(t, "input_layer")) else t, self.compute_output_spec(inputs, *args, **kwargs))
        node = Node(self, (inputs,) + args, kwargs, None)
        index = 0
        for t in flatten(outputs):
            if isinstance(t, KerasTensor):
                t.node, t.index = node, index
                index += 1
        node.outputs = outputs
        self._inbound_nodes.append(node)
        attach_symbolic_masks(self, inputs, kwargs, outputs, Layer.compute_mask)
        return outputs

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
        """The layer ``get_config`` describes. A config the constructor refuses raises TypeError (as Keras),
        naming the class and the config, with the constructor's own error as the cause."""
        try:
            return cls(**config)
        except Exception as e:
            raise TypeError(f"Could not rebuild {cls.__name__} from config={config}: {type(e).__name__}: {e}") from e

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def extends_shape(shape, expected) -> bool:
    """True when ``shape`` has more axes than ``expected`` (both with the batch axis first) and its
    trailing axes agree with ``expected``'s sample axes: (None, 10, 8) extends (None, 8)."""
    if shape is None or expected is None or len(shape) <= len(expected):
        return False
    tail = tuple(shape)[len(shape) - len(expected) + 1:]
    return all(e is None or g is None or e == g for e, g in zip(expected[1:], tail))


def same_shape(layer, input_shape):
    """``compute_output_shape`` of a layer whose output has its input's shape (activations, dropout, ...)."""
    return map_shapes(standardize_shape, input_shape)


def _marking_built(build):
    """``build`` that marks the layer built and remembers the shape it was built for, as Keras does, so a
    layer built by hand (``layer.build((None, 4))``, even without ``super().build``) is not built again."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        build(self, *args, **kwargs)
        self.built = True
        if self._build_shape is None and args:
            self._build_shape = args[0]
    wrapper._marks_built = True
    return wrapper


def _has_shape_rule(layer) -> bool:
    return type(layer).compute_output_shape is not Layer.compute_output_shape


def _unique(tensors):
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out
