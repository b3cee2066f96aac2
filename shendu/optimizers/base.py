"""Optimizer: what every update rule shares, with Keras 3's semantics.

One ``apply`` does, in this order (as Keras 3 does): build slots for new variables, drop ``None``
gradients, unscale by ``loss_scale_factor``, accumulate (``gradient_accumulation_steps``), clip
(``clipnorm`` | ``global_clipnorm`` | ``clipvalue``), decoupled weight decay
``w -= w * weight_decay * lr``, then the subclass's ``update_step(g, w, lr)`` for each variable,
variable constraints, the weights' moving average (``use_ema``), and ``iterations += 1``.

A subclass holds its whole rule in ``update_step`` and declares its slots in ``build``::

    def build(self, var_list):
        super().build(var_list)
        self.add_slots(var_list, "momentum", "velocity")

    def update_step(self, g, w, lr):
        m, v = self.slots(w)
        ...

``g`` and ``w`` are backend arrays (``w`` is the variable's own ``.data``, updated in place) and
``lr`` is a Python float. Slots are arrays shendu owns, so rules update them in place too.
"""
from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict

import numpy

from shendu import autograd, backend
from shendu.optimizers import schedules as schedules_module
from shendu.tape import GradientTape
from shendu.tensor import Tensor

_name_counts: dict[str, int] = defaultdict(int)
_BASE_SLOTS = ("average", "gradient_accumulator")   # kept by the base, not part of slots(w)


def _auto_name(cls_name: str) -> str:
    """'adam', then 'adam_1', ... as Keras names optimizers ('RMSprop' -> 'rm_sprop')."""
    base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls_name)
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


class _Rate(float):
    """A float learning rate that can also be assigned to, as tf.keras's rate variable can: custom
    schedule callbacks write ``keras.backend.set_value(model.optimizer.lr, 0.001)`` or
    ``optimizer.learning_rate.assign(0.001)``; both set the optimizer's rate."""

    def __new__(cls, value, optimizer=None):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def __reduce__(self):                 # copied or pickled, it is a plain number
        return float, (float(self),)

    def assign(self, value):
        if self._optimizer is None:
            raise TypeError("This learning rate is a copy, not attached to an optimizer; assign to "
                            "optimizer.learning_rate instead.")
        self._optimizer.learning_rate = value

    def numpy(self):
        return float(self)


class Optimizer:
    """Base class: turns gradients into in-place updates of trainable variables.

    Args:
        learning_rate: a float, a ``LearningRateSchedule`` (called with ``iterations``), or a
            callable taking no arguments.
        weight_decay: if set, decoupled decay ``w -= w * weight_decay * lr`` before each update.
        clipnorm: clip each gradient so its L2 norm is at most this.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: scale all gradients together so their joint L2 norm is at most this.
        use_ema: keep a moving average of the weights (``ema_momentum``), written into the
            weights every ``ema_overwrite_frequency`` steps or by ``finalize_variable_values``.
        loss_scale_factor: gradients are divided by it (pair with ``scale_loss``).
        gradient_accumulation_steps: update every N calls with the mean of the N gradients.
        name: defaults to the snake-cased class name ('adam', 'adam_1', ...).
        lr: tf.keras 2 spelling of ``learning_rate`` (accepted with a DeprecationWarning).
        decay: tf.keras 2 time decay, ``lr / (1 + decay * iterations)``. Keras 3 warns and ignores
            it; shendu applies it as tf.keras 2 did, so old tutorials train the same way.
    """
    _gradient_reducer = None        # shendu.distribute.DistributedOptimizer sets one: Σ of gradients over workers

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if "lr" in kwargs:
            warnings.warn("`lr` is the tf.keras 2 spelling; Keras 3 calls it `learning_rate=`.",
                          DeprecationWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None)
        for meaningless_here in ("jit_compile", "is_legacy_optimizer"):   # in tf.keras 2.11+ configs
            kwargs.pop(meaningless_here, None)
        if kwargs:
            raise ValueError(
                f"{type(self).__name__} got unrecognised argument(s) {sorted(kwargs)}. It accepts its own "
                "hyperparameters plus weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, "
                "ema_momentum, ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name.")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}.")
        if gradient_accumulation_steps is not None and not gradient_accumulation_steps >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2 (or None). "
                             f"Received: {gradient_accumulation_steps}.")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in [0, 1]. Received: {ema_momentum}.")
        self.decay = float(decay or 0.0)
        if self.decay:
            warnings.warn(
                "`decay=` is tf.keras 2's time decay: shendu applies lr / (1 + decay * iterations) as "
                "tf.keras 2 did (Keras 3 ignores it). Prefer learning_rate="
                "keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=decay).",
                DeprecationWarning, stacklevel=3)
        self.name = name if name is not None else _auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self.built = False
        self._variables: list[Tensor] = []        # every variable with slots, in build order
        self._index: dict[int, int] = {}          # id(variable) -> position in _variables
        self._slots: dict[int, dict] = {}         # id(variable) -> {slot name: array}
        self._slot_tuples: dict[int, tuple] = {}  # id(variable) -> what slots() returns (the rule's own slots)
        self._state: list = []                    # slot arrays and scalar-state names, creation order
        self._array_owner: dict[int, int] = {}    # id(variable.data) -> id(variable), this step
        self._exclude_ids: set[int] = set()
        self._exclude_pattern = None

    # ---------------------------------------------------------------- learning rate
    def _check_learning_rate(self, learning_rate):
        if isinstance(learning_rate, schedules_module.LearningRateSchedule) or callable(learning_rate):
            return learning_rate
        try:
            if isinstance(learning_rate, (bool, str)):
                raise TypeError
            return float(learning_rate)     # also a NumPy scalar or a one-element array/tensor
        except (TypeError, ValueError):
            raise ValueError(
                "`learning_rate` should be a float, a keras.optimizers.schedules.LearningRateSchedule, "
                f"or a callable returning the rate; received {learning_rate!r}.") from None

    @property
    def learning_rate(self) -> float:
        """The rate for the next step: the float, or the schedule evaluated at ``iterations``."""
        lr = self._learning_rate
        if isinstance(lr, schedules_module.LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return _Rate(lr, self)

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if (isinstance(self._learning_rate, schedules_module.LearningRateSchedule)
                and not callable(learning_rate)):
            raise TypeError(
                "This optimizer was created with a LearningRateSchedule, so its learning rate is not "
                "settable to a number (Keras 3 behaves the same). Create the optimizer with a float "
                "learning_rate if a callback must change it, or assign a new schedule.")
        self._learning_rate = self._check_learning_rate(learning_rate)

    lr = property(lambda self: self.learning_rate,
                  lambda self, value: setattr(self, "learning_rate", value),
                  doc="tf.keras 2 alias of ``learning_rate``.")

    def _current_learning_rate(self) -> float:
        """The rate this step uses: ``learning_rate`` with tf.keras 2's legacy ``decay`` applied."""
        lr = self._learning_rate
        if not isinstance(lr, float):       # a schedule or a callable (a plain rate is used as it is)
            lr = self.learning_rate
        if self.decay:
            lr = lr / (1.0 + self.decay * self._iterations)
        return lr

    @property
    def iterations(self) -> int:
        """Steps applied so far (with gradient accumulation: updates made, i.e. calls // steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    # ---------------------------------------------------------------- slots
    def build(self, var_list) -> None:
        """Register ``var_list`` (in order) and create the base slots. Subclasses call this first,
        then ``add_slots``. Already-known variables are skipped, so building again is harmless."""
        new = [v for v in var_list if id(v) not in self._index]
        for v in new:
            if not isinstance(v, Tensor):
                raise TypeError(f"{type(self).__name__} updates shendu Tensors in place, got "
                                f"{type(v).__name__}; pass the model's trainable_variables.")
            self._index[id(v)] = len(self._variables)
            self._variables.append(v)
            self._slots[id(v)] = {}
            self._slot_tuples[id(v)] = ()
        if self.use_ema:
            self.add_slots(var_list, "average")
        if self.gradient_accumulation_steps:
            self.add_slots(var_list, "gradient_accumulator")
        self.built = True

    def add_slots(self, var_list, *names: str, initial: float = 0.0) -> None:
        """Create slots ``names`` for each variable (interleaved per variable, as Keras orders them),
        filled with ``initial``, shaped and typed like the variable. Existing slots are kept."""
        for v in var_list:
            slots = self._slots[id(v)]
            for name in names:
                if name not in slots:
                    slots[name] = backend.xp.full(v.shape, initial, dtype=v.dtype)
                    self._state.append(slots[name])
            self._slot_tuples[id(v)] = tuple(a for name, a in slots.items() if name not in _BASE_SLOTS)

    def add_scalar_state(self, attribute: str, dtype) -> None:
        """Save the float ``self.<attribute>`` with the slots (e.g. Nadam's running product)."""
        if not any(isinstance(s, tuple) and s[0] == attribute for s in self._state):
            self._state.append((attribute, numpy.dtype(dtype)))

    def _key(self, w) -> int:
        key = id(w)
        return key if key in self._slots else self._array_owner.get(key, key)

    def slots(self, w) -> tuple:
        """The slot arrays of ``w`` (the variable or its ``.data``) in the order ``build`` added them."""
        slots = self._slot_tuples.get(self._key(w))
        if slots is None:
            raise KeyError(f"{type(self).__name__} has no slots for this variable; call "
                           "optimizer.build(var_list) or apply gradients to it first.")
        return slots

    def get_slot(self, var, slot_name: str):
        """One slot array by name, e.g. ``get_slot(w, "momentum")`` (tf.keras 2's accessor)."""
        slots = self._slots.get(self._key(var), {})
        if slot_name not in slots:
            raise KeyError(f"No slot {slot_name!r} for this variable; it has {list(slots)}.")
        return slots[slot_name]

    # ---------------------------------------------------------------- applying gradients
    def update_step(self, g, w, lr: float) -> None:  # pragma: no cover - abstract
        """Update ``w`` (an array, in place) from its gradient ``g`` at learning rate ``lr``."""
        raise NotImplementedError(f"{type(self).__name__} must define update_step(g, w, lr).")

    def apply_gradients(self, grads_and_vars) -> int:
        """Apply ``[(grad, variable), ...]``; a ``None`` gradient skips its variable. Returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        grads, variables = zip(*pairs)
        return self.apply(grads, variables)

    def apply(self, grads, trainable_variables=None) -> int:
        """Update ``trainable_variables`` (default: those the optimizer was built with) from ``grads``."""
        grads = list(grads)
        if not grads:
            return self.iterations
        if trainable_variables is None:
            if not self.built:
                raise ValueError("apply(grads) without variables needs a built optimizer: call "
                                 "optimizer.build(trainable_variables) first, or pass the variables.")
            variables = self._variables
        else:
            variables = list(trainable_variables)
            if any(id(v) not in self._index for v in variables):
                self.build(variables)
        if len(grads) != len(variables):
            raise ValueError(f"Got {len(grads)} gradients for {len(variables)} variables; pass one "
                             "gradient (or None) per variable, in the same order.")

        kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not kept:
            raise ValueError("No gradients provided for any variable: every gradient is None. Check that "
                             "the loss depends on the variables (and was computed with gradients on).")
        if len(kept) < len(variables):
            missing = [v.name or f"variable {i}" for i, (g, v) in enumerate(zip(grads, variables)) if g is None]
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss.",
                          stacklevel=2)
        variables = [v for _, v in kept]
        grads = [self._as_gradient(g, v) for g, v in kept]
        if self._gradient_reducer is not None:      # data-parallel training: Σ over the workers (shendu.distribute)
            grads = self._gradient_reducer(grads, variables)
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]

        with autograd.no_grad(), autograd.span(f"Optimizer.step#{type(self).__name__}.step"):   # for profilers
            if self.gradient_accumulation_steps:
                self._accumulate_or_update(grads, variables)
            else:
                self._clip_decay_update(grads, variables)
            for v in variables:
                constraint = getattr(v, "constraint", None)
                if constraint is not None:
                    value = constraint(v)
                    v.data[...] = value.data if isinstance(value, Tensor) else backend.asarray(value)
            if self.use_ema:
                self._update_moving_average()
        self._iterations += 1
        return self.iterations

    def _as_gradient(self, g, v):
        g = g.data if isinstance(g, Tensor) else backend.asarray(g)
        if g.shape != v.shape:
            raise ValueError(f"Gradient of shape {g.shape} does not match its variable "
                             f"{v.name or ''} of shape {v.shape}; grads and variables must pair up in order.")
        return g if g.dtype == v.dtype else g.astype(v.dtype)

    def _clip_decay_update(self, grads, variables):
        grads = self._clip_gradients(grads)
        lr = self._current_learning_rate()
        if self.weight_decay is not None:
            for v in variables:
                if self._use_weight_decay(v):
                    v.data -= v.data * (self.weight_decay * lr)   # decoupled: not part of the gradient
        self.update_all(grads, variables, lr)

    def update_all(self, grads, variables, lr: float) -> None:
        """Run ``update_step`` once per variable (Nadam extends this with a per-step product)."""
        self._array_owner = {id(v.data): id(v) for v in variables}
        for g, v in zip(grads, variables):
            self.update_step(g, v.data, lr)

    def _accumulate_or_update(self, grads, variables):
        steps = self.gradient_accumulation_steps
        accumulators = [self._slots[id(v)]["gradient_accumulator"] for v in variables]
        if (self._iterations + 1) % steps:
            for acc, g in zip(accumulators, grads):
                acc += g
            return
        grads = [(g + acc) / steps for g, acc in zip(grads, accumulators)]
        self._clip_decay_update(grads, variables)
        for v in self._variables:       # Keras resets every accumulator, not only this step's
            self._slots[id(v)]["gradient_accumulator"][...] = 0

    def _update_moving_average(self):
        momentum = self.ema_momentum if self.iterations != 0 else 0.0   # first step copies the weights
        for v in self._variables:
            average = self._slots[id(v)]["average"]
            average *= momentum
            average += (1 - momentum) * v.data
        freq = self.ema_overwrite_frequency
        if freq and (self.iterations + 1) % freq == 0:
            self.finalize_variable_values(self._variables)

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``, overwrite the variables with their moving averages (end of training)."""
        if self.use_ema:
            for v in var_list:
                v.data[...] = self._slots[id(v)]["average"]

    # ---------------------------------------------------------------- clipping and decay
    def _clip_gradients(self, grads):
        xp = backend.xp
        if self.clipnorm and self.clipnorm > 0:
            # g * c / max(||g||, c): unchanged when the norm is already small
            return [g * self.clipnorm / xp.maximum(xp.sqrt(xp.sum(g * g)), self.clipnorm) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = math.sqrt(sum(float(xp.sum(g * g)) for g in grads))
            # a NaN/inf norm gives a NaN scale, so the step shows the overflow rather than hiding it
            scale = self.global_clipnorm / max(norm, self.global_clipnorm) if math.isfinite(norm) else math.nan
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Skip weight decay for ``var_list`` and for variables whose name contains any of ``var_names``."""
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, v) -> bool:
        if id(v) in self._exclude_ids:
            return False
        return not (self._exclude_pattern is not None and v.name
                    and self._exclude_pattern.search(v.name))

    # ---------------------------------------------------------------- conveniences
    def minimize(self, loss, var_list, tape=None) -> int:
        """Compute gradients of ``loss`` (a callable, or a tensor already computed) and apply them."""

        if callable(var_list):
            var_list = var_list()
        var_list = list(var_list)
        if callable(loss):
            with GradientTape() as tape:
                loss = loss()
        elif tape is None:
            tape = GradientTape()   # shendu records every op anyway; the tape only walks the graph
        return self.apply(tape.gradient(loss, var_list), var_list)

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (the gradients are divided back in ``apply``)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    # ---------------------------------------------------------------- state
    def _state_arrays(self, copy: bool):
        out = [numpy.asarray(self._iterations, dtype=numpy.int64)]
        if isinstance(self._learning_rate, float):
            out.append(numpy.asarray(self._learning_rate, dtype=numpy.float64))
        for entry in self._state:
            if isinstance(entry, tuple):
                out.append(numpy.asarray(getattr(self, entry[0]), dtype=entry[1]))
            else:
                out.append(backend.to_numpy(entry).copy() if copy else entry)
        return out

    def get_state(self) -> list:
        """The optimizer state as NumPy arrays: iterations, the learning rate (when it is a float),
        then each variable's slots in variable order (and per-optimizer scalars), as Keras 3 orders
        ``optimizer.variables``. Copies, so later steps do not change them."""
        return self._state_arrays(copy=True)

    def set_state(self, state, var_list=None) -> None:
        """Restore what ``get_state`` returned. Slots must exist first: pass ``var_list`` (the model's
        trainable variables, same order as when saved) or call ``build(var_list)`` beforehand."""
        if var_list is not None:
            self.build(list(var_list))
        state = list(state)
        expected = len(self._state_arrays(copy=False))
        if len(state) != expected:
            hint = ("" if self.built else " It has no slots yet: call optimizer.build(model.trainable_variables) "
                    "or pass var_list= first.")
            raise ValueError(f"{type(self).__name__} '{self.name}' holds {expected} state arrays but "
                             f"{len(state)} were given.{hint}")
        self._iterations = int(state[0])
        rest = state[1:]
        if isinstance(self._learning_rate, float):
            self._learning_rate = float(rest[0])
            rest = rest[1:]
        for entry, value in zip(self._state, rest):
            if isinstance(entry, tuple):
                setattr(self, entry[0], float(value))
            else:
                value = numpy.asarray(value)
                if value.shape != entry.shape:
                    raise ValueError(f"Optimizer state array of shape {value.shape} cannot be restored into "
                                     f"a slot of shape {entry.shape}: the variables differ from those saved.")
                entry[...] = backend.asarray(value, entry.dtype)

    get_weights = get_state     # tf.keras 2 names
    set_weights = set_state

    @property
    def variables(self) -> list:
        """The state as tensors (slot tensors share memory with the live slots), in ``get_state`` order."""
        return [Tensor(a) for a in self._state_arrays(copy=False)]

    def save_own_variables(self, store) -> None:
        """Keras 3's saving hook: ``store["0"], store["1"], ...`` in ``get_state`` order."""
        for i, a in enumerate(self.get_state()):
            store[str(i)] = a

    def load_own_variables(self, store) -> None:
        """Keras 3's loading hook (the optimizer must be built on the model's variables first)."""
        self.set_state([store[str(i)] for i in range(len(store.keys()))])

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        """Constructor arguments, with Keras 3's keys (a schedule is nested as its serialized dict)."""
        lr = self._learning_rate
        if isinstance(lr, schedules_module.LearningRateSchedule):
            lr = schedules_module.serialize(lr)
        config = {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """The optimizer ``get_config`` describes (fresh state)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"
