"""Recurrent layers: RNN(cell) and SimpleRNN, LSTM, GRU with tf.keras's names, defaults and weights.

A recurrent layer reads a sequence (batch, time, features) one step at a time, carrying a state
from step to step. Each layer owns a cell (``layer.cell``, as in Keras 3, so ``get_weights()``
order and weight paths match Keras) and runs the whole sequence through the fused op of
``shendu.ops.recurrent`` (one op, backpropagation through time as one reverse loop). A custom
cell, or a built-in one with an activation the fused op lacks, is looped step by step instead.

Masks (from ``Embedding(mask_zero=True)`` or ``Masking``) skip padded steps: the state is carried
over them, so a padded sequence gives the same result as the unpadded one.
"""
from __future__ import annotations

import numpy as np

from shendu import backend, ops
from shendu import serialization
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer
from shendu.layers.rnn_cells import GRUCell, LSTMCell, SimpleRNNCell
from shendu.layers.symbolic import flatten
from shendu.tensor import Tensor, as_tensor


def _array_mask(mask):
    """A (batch, time) boolean array from whatever mask arrived (a Tensor, an array, a list of them)."""
    if isinstance(mask, (list, tuple)):
        mask = next((m for m in flatten(mask) if m is not None), None)
    if mask is None:
        return None
    mask = mask.data if isinstance(mask, Tensor) else backend.asarray(mask)
    return mask.astype(bool)


def _state_sizes(cell):
    size = getattr(cell, "state_size", None)
    if size is None:
        raise ValueError(f"An RNN cell needs a `state_size` attribute (an int, or a list with one int per state); "
                         f"{type(cell).__name__} has none.")
    return [size] if isinstance(size, (int, np.integer)) else list(size)


class RNN(Layer):
    """Run ``cell`` over the time axis: ``output_t, states = cell(x_t, states)`` for t = 1..T.

    Args:
        cell: a layer with ``call(x_t, states) -> (output, new_states)`` and ``state_size``.
        return_sequences: return every step's output (batch, time, units) instead of the last (batch, units).
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: read the sequence from its end; the returned sequence is in that reversed order.
        stateful: start each batch from the previous batch's final states (``reset_states()`` to zero them).
        unroll: accepted for tf.keras compatibility; the fused op is already a tight loop.
        zero_output_for_mask: output zeros at masked steps instead of repeating the previous output.
    Call with ``initial_state=`` (a tensor or a list, one per state) to start from given states.
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            raise ValueError("RNN(cell) takes one cell; to stack recurrent layers, use several layers with "
                             "return_sequences=True on all but the last.")
        if not callable(getattr(cell, "call", None)):
            raise ValueError(f"The RNN cell must have a `call(inputs, states)` method, got {cell!r}.")
        _state_sizes(cell)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None            # the carried states of a stateful layer (arrays, not weights)
        self.state_size = _state_sizes(cell)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a 3-D input (batch, time, features) "
                             f"but got shape {tuple(input_shape)}. For a sequence of single numbers reshape it to "
                             f"(batch, time, 1); for token ids put an Embedding layer first.")
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build((input_shape[0],) + tuple(input_shape[2:]))
            self.cell.built = True
            for w in self.cell.weights:           # Keras 3's paths: lstm/lstm_cell/kernel
                w.path = f"{self.name}/{self.cell.name}/{w.name}"
        self.built = True

    def compute_output_shape(self, input_shape):
        """(batch, units), or (batch, time, units) with return_sequences; then one (batch, size) per state
        with return_state (a list)."""
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a 3-D input (batch, time, features) "
                             f"but got shape {tuple(input_shape)}.")
        batch = input_shape[0]
        size = getattr(self.cell, "output_size", None) or self.state_size[0]
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,)
        out = (batch, input_shape[1]) + size if self.return_sequences else (batch,) + size
        if not self.return_state:
            return out
        return [out] + [(batch,) + (tuple(n) if isinstance(n, (list, tuple)) else (n,)) for n in self.state_size]

    # ------------------------------------------------------------ states
    def get_initial_state(self, batch_size):
        if hasattr(self.cell, "get_initial_state"):
            states = self.cell.get_initial_state(batch_size=batch_size)
            return [as_tensor(s) for s in (states if isinstance(states, (list, tuple)) else [states])]
        return [Tensor._wrap(backend.xp.zeros((batch_size, n), self.dtype), False) for n in self.state_size]

    def reset_states(self, states=None) -> None:
        """Zero the carried states of a stateful layer, or set them to ``states`` (arrays, one per state)."""
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' is not stateful; create it with stateful=True to carry "
                                 f"states between batches.")
        if states is None:
            self.states = None if self.states is None else [backend.xp.zeros_like(s) for s in self.states]
            return
        states = states if isinstance(states, (list, tuple)) else [states]
        if len(states) != len(self.state_size):
            raise ValueError(f"Layer '{self.name}' has {len(self.state_size)} states but reset_states got "
                             f"{len(states)}.")
        self.states = [backend.asarray(np.asarray(s)).astype(self.dtype) for s in states]

    reset_state = reset_states

    def _start_states(self, x, initial_state):
        batch = x.shape[0]
        if initial_state is None and self.stateful:
            if self.states is None or self.states[0].shape[0] != batch:
                declared = self._batch_input_shape[0] if self._batch_input_shape is not None else None
                if self.states is not None and declared is not None:
                    raise ValueError(f"Stateful layer '{self.name}' was declared for batches of {declared} but got "
                                     f"a batch of {batch}; every batch of a stateful RNN must have the same size "
                                     f"(use a batch size that divides the data, or drop the last batch).")
                self.states = [s.data.copy() for s in self.get_initial_state(batch)]
            return [Tensor._wrap(s, False) for s in self.states]
        if initial_state is None:
            return self.get_initial_state(batch)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != len(self.state_size):
            raise ValueError(f"{type(self).__name__} layer '{self.name}' has {len(self.state_size)} state(s) "
                             f"but initial_state has {len(states)}" +
                             (" (an LSTM takes [h, c])." if len(self.state_size) == 2 else "."))
        out = []
        for s, n in zip(states, self.state_size):
            s = as_tensor(s)
            if tuple(s.shape) != (batch, n):
                raise ValueError(f"{type(self).__name__} layer '{self.name}': an initial state must be (batch, units) "
                                 f"= {(batch, n)}, got {tuple(s.shape)}.")
            out.append(ops.cast(s, self.dtype) if s.dtype.kind == "f" and s.dtype != self.dtype else s)
        return out

    # ------------------------------------------------------------ the sequence
    def call(self, sequences, initial_state=None, mask=None, training=None):
        x = sequences
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}' expects a 3-D input (batch, time, features) "
                             f"but got shape {tuple(x.shape)}.")
        mask = _array_mask(mask)
        states = self._start_states(x, initial_state)
        out = None
        if hasattr(self.cell, "run_sequence"):
            out = self.cell.run_sequence(x, states, mask=mask, go_backwards=self.go_backwards,
                                         return_sequences=self.return_sequences,
                                         zero_output_for_mask=self.zero_output_for_mask, training=training)
        if out is None:
            out = self._loop(x, states, mask, training)
        if self.stateful:
            self.states = [s.data.copy() for s in out[1:]]
        return out if self.return_state else out[0]

    def _loop(self, x, states, mask, training):
        """Step by step through the cell (custom cells): a graph per step, Keras's masking rules."""
        T = x.shape[1]
        steps = [ops.reshape(s, (x.shape[0],) + tuple(x.shape[2:])) for s in ops.split(x, T, axis=1)]
        order = range(T - 1, -1, -1) if self.go_backwards else range(T)
        outputs, previous = [], None
        for t in order:
            output, new_states = self.cell(steps[t], states, training=training)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if mask is not None:        # a masked step keeps the states and repeats the previous output
                m = mask[:, t:t + 1]
                zeros = Tensor._wrap(backend.xp.zeros(output.shape, output.dtype), False)
                keep = zeros if self.zero_output_for_mask or previous is None else previous
                output = ops.where(m, output, keep)
                new_states = [ops.where(m, n, s) for n, s in zip(new_states, states)]
            previous, states = output, new_states
            outputs.append(output)
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if hasattr(self.cell, reset):
                getattr(self.cell, reset)()
        y = ops.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        return [y] + states

    def compute_mask(self, inputs, mask=None):
        mask = _array_mask(mask)
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * len(self.state_size) if self.return_state else output_mask

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask,
                "cell": serialization.serialize(self.cell, "keras.layers")}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, dict):
            cell = deserialize_layer(cell)
        return cls(cell, **config)


def deserialize_layer(config: dict, custom_objects: dict | None = None) -> Layer:
    """A layer from Keras's ``{"class_name", "config"}`` dict, looked up in shendu.layers (or custom_objects)."""
    import shendu.layers as layers_module
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or getattr(layers_module, str(name), None)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"Unknown layer class {name!r}: pass custom layers in custom_objects={{'{name}': cls}}.")
    return cls.from_config(config.get("config", {}))


class _BuiltinRNN(RNN):
    """SimpleRNN, LSTM and GRU: an RNN whose cell is made from the layer's own arguments."""

    _cell_class = None
    _cell_name = ""
    _cell_keys = ()

    def __init__(self, cell_args: dict, return_sequences, return_state, go_backwards, stateful, unroll,
                 zero_output_for_mask, activity_regularizer, use_cudnn, kwargs):
        kwargs.pop("implementation", None)
        cell = self._cell_class(**cell_args, dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True),
                                name=self._cell_name)       # Keras 3 names every such cell alike: "lstm_cell"
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, activity_regularizer=activity_regularizer,
                         **kwargs)
        self.use_cudnn = use_cudnn           # accepted for Keras 3 compatibility; not used on the CPU

    def __getattr__(self, name):              # units, activation, dropout ... read through to the cell, as in Keras
        if name in type(self)._cell_keys and "cell" in self.__dict__:
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            del cell_config[key]
        return {**config, **cell_config,
                "activity_regularizer": regularizers_module.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_COMMON = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
           "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
           "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed")


class SimpleRNN(_BuiltinRNN):
    """Fully connected recurrence h_t = act(x_t W + h_{t-1} U + b), W (input_dim, units), U (units, units).

    Args: as tf.keras.layers.SimpleRNN; see ``RNN`` for return_sequences, return_state, go_backwards,
    stateful. Input (batch, time, features); output (batch, units) or (batch, time, units).
    """

    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"
    _cell_keys = _COMMON

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=False,
                 zero_output_for_mask=False, **kwargs):
        cell_args = dict(units=units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, seed=seed)
        super().__init__(cell_args, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, activity_regularizer, kwargs.pop("use_cudnn", "auto"), kwargs)


class LSTM(_BuiltinRNN):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), gates i, f, c, o in Keras's column order.

    i, f, o = σ(x W + h U + b) blocks, c̃ = tanh(...);  c_t = f ⊙ c_{t-1} + i ⊙ c̃;  h_t = o ⊙ tanh(c_t).
    Weights: kernel (input_dim, 4·units), recurrent_kernel (units, 4·units), bias (4·units,), held by
    ``layer.cell``. ``return_state=True`` returns ``[output, h, c]``.
    """

    _cell_class = LSTMCell
    _cell_name = "lstm_cell"
    _cell_keys = _COMMON + ("recurrent_activation", "unit_forget_bias")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        cell_args = dict(units=units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         seed=seed)
        super().__init__(cell_args, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, activity_regularizer, use_cudnn, kwargs)


class GRU(_BuiltinRNN):
    """Gated recurrent unit (Cho et al. 2014), gates z, r, h in Keras's column order.

    z, r = σ(...);  h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh)) with reset_after=True (the default; bias
    (2, 3·units), matching cuDNN and PyTorch), tanh(x W_h + (r ⊙ h) U_h + b_h) otherwise (bias (3·units,));
    h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃. ``return_state=True`` returns ``[output, h]``.
    """

    _cell_class = GRUCell
    _cell_name = "gru_cell"
    _cell_keys = _COMMON + ("recurrent_activation", "reset_after")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        cell_args = dict(units=units, activation=activation, recurrent_activation=recurrent_activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
                         recurrent_dropout=recurrent_dropout, reset_after=reset_after, seed=seed)
        super().__init__(cell_args, return_sequences, return_state, go_backwards, stateful, unroll,
                         zero_output_for_mask, activity_regularizer, use_cudnn, kwargs)
