"""Recurrent cells: ONE time step of SimpleRNN, LSTM and GRU, with Keras's weights, names and config.

``h, new_states = cell(x_t, states)`` computes a single step from primitive ops: the readable form
of each formula, and the oracle the tests hold the fused ops against. The layers in
``recurrent.py`` own a cell (``layer.cell``, as in Keras 3, so weight order and paths match) and
run a whole sequence through ``cell.run_sequence``, which calls the fused op in
``shendu.ops.recurrent`` (one op for all steps) whenever the activations have a fused form.
"""
from __future__ import annotations

import numpy as np

from shendu import activations as activations_module
from shendu import backend, ops
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer
from shendu.ops.recurrent_base import ACTIVATIONS
from shendu.tensor import Tensor, as_tensor


class _Cell(Layer):
    """What the three cells share: config, weights (kernel, recurrent_kernel, bias) and dropout masks.

    Subclasses set ``gates`` (k: the kernels are (input_dim, k·units) and (units, k·units)).
    Dropout masks are drawn once per sequence and reused at every step, as in Keras
    (Gal & Ghahramani 2016, https://arxiv.org/abs/1512.05287): one mask for x_t and one for h_{t-1},
    shared by all gates (Keras's default implementation does the same for x_t; with
    recurrent_dropout it switches to one mask per gate, which the fused op does not do).
    """

    gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        kwargs.pop("implementation", None)         # tf.keras 2's kernel-fusion switch; the fused op decides here
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"{type(self).__name__} units must be a positive integer, got {units!r}.")
        self.units = int(units)
        self.activation = activations_module.get(activation)
        self.recurrent_activation = activations_module.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.recurrent_initializer = initializers_module.get(recurrent_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers_module.get(recurrent_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.recurrent_constraint = constraints_module.get(recurrent_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))                 # Keras clips the rates to [0, 1]
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._rng = backend.xp.random.default_rng(seed) if seed is not None else None
        self._dropout_mask = self._recurrent_dropout_mask = None
        self.state_size = self.units
        self.output_size = self.units

    # ------------------------------------------------------------ weights
    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs the feature axis of its input to be known, "
                             f"got {tuple(input_shape)}.")
        k = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], k), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, k), self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [Tensor._wrap(backend.xp.zeros((batch_size, n), self.dtype), False) for n in sizes]

    # ------------------------------------------------------------ dropout masks, fixed across time
    def _draw(self, shape, rate):
        rng = self._rng if self._rng is not None else backend.rng
        keep = rng.random(shape) >= rate
        return keep.astype(self.dtype) / np.dtype(self.dtype).type(1 - rate)   # inverted dropout: E[x·mask] = x

    def get_dropout_mask(self, step_input):
        """The input mask (batch, features), drawn on first use and kept until ``reset_dropout_mask``."""
        if self._dropout_mask is None and 0 < self.dropout < 1:
            self._dropout_mask = self._draw(tuple(step_input.shape), self.dropout)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_input):
        if self._recurrent_dropout_mask is None and 0 < self.recurrent_dropout < 1:
            self._recurrent_dropout_mask = self._draw(tuple(step_input.shape), self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None

    def _dropped(self, x, h, training):
        """x and h_{t-1} times their dropout masks in training (unchanged otherwise)."""
        if training and 0 < self.dropout < 1:
            x = x * self.get_dropout_mask(x)
        if training and 0 < self.recurrent_dropout < 1:
            h = h * self.get_recurrent_dropout_mask(h)
        return x, h

    # ------------------------------------------------------------ whole sequences, fused
    def _activation_names(self):
        return [activations_module.serialize(self.activation), activations_module.serialize(self.recurrent_activation)]

    def run_sequence(self, x, states, mask=None, go_backwards=False, return_sequences=False,
                     zero_output_for_mask=False, training=None):
        """``[output, *final_states]`` for the sequence ``x`` (batch, time, features) through the fused op,
        or None when an activation has no fused form (the caller then loops over the cell)."""
        if any(name not in ACTIVATIONS for name in self._activation_names()):
            return None
        recurrent_mask = None
        if training and 0 < self.dropout < 1:
            x = x * self.get_dropout_mask(Tensor._wrap(x.data[:, 0], False))[:, None, :]
        if training and 0 < self.recurrent_dropout < 1:
            recurrent_mask = self.get_recurrent_dropout_mask(states[0])
        try:
            out = self._fused(x, states, dict(mask=mask, go_backwards=go_backwards, return_sequences=return_sequences,
                                              zero_output_for_mask=zero_output_for_mask,
                                              recurrent_dropout_mask=recurrent_mask))
        finally:
            self.reset_dropout_mask()
            self.reset_recurrent_dropout_mask()
        return list(out)

    def get_config(self):
        ser = initializers_module.serialize
        reg = regularizers_module.serialize
        return {**super().get_config(), "units": self.units,
                "activation": activations_module.serialize(self.activation),
                "recurrent_activation": activations_module.serialize(self.recurrent_activation),
                "use_bias": self.use_bias, "kernel_initializer": ser(self.kernel_initializer),
                "recurrent_initializer": ser(self.recurrent_initializer),
                "bias_initializer": ser(self.bias_initializer), "kernel_regularizer": reg(self.kernel_regularizer),
                "recurrent_regularizer": reg(self.recurrent_regularizer),
                "bias_regularizer": reg(self.bias_regularizer),
                "kernel_constraint": constraints_module.serialize(self.kernel_constraint),
                "recurrent_constraint": constraints_module.serialize(self.recurrent_constraint),
                "bias_constraint": constraints_module.serialize(self.bias_constraint),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


def _first_state(states):
    return as_tensor(states[0] if isinstance(states, (list, tuple)) else states)


class SimpleRNNCell(_Cell):
    """h_t = act(x_t W + h_{t-1} U + b).

    Args:
        units: size of h. Call with ``x_t`` (batch, features) and ``states`` [h_{t-1}] (batch, units).
    """

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, None, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         **kwargs)

    def call(self, inputs, states, training=None):
        h_prev = _first_state(states)
        x, h = self._dropped(inputs, h_prev, training)
        h = self.activation(ops.linear(x, self.kernel, self.bias) + ops.matmul(h, self.recurrent_kernel))
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def _activation_names(self):
        return [activations_module.serialize(self.activation)]

    def _fused(self, x, states, params):
        return ops.simple_rnn(x, self.kernel, self.recurrent_kernel, self.bias, states[0],
                              activation=self._activation_names()[0], **params)

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class LSTMCell(_Cell):
    """i, f, o = σ(x W + h U + b) blocks, c̃ = tanh(...);  c_t = f ⊙ c_{t-1} + i ⊙ c̃;  h_t = o ⊙ tanh(c_t).

    Args:
        units: size of h and c. Call with ``x_t`` (batch, features) and ``states`` [h, c].
        unit_forget_bias: start the forget-gate bias at 1 (Jozefowicz et al. 2015) so the cell
            remembers by default early in training.
    """

    gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_bias_one(shape, dtype=None):                  # blocks i, f, c, o: f starts at 1
            return backend.xp.concatenate([backend.asarray(init((u,), dtype=dtype)), backend.xp.ones((u,), dtype),
                                           backend.asarray(init((2 * u,), dtype=dtype))])
        return forget_bias_one

    def call(self, inputs, states, training=None):
        h_prev, c_prev = as_tensor(states[0]), as_tensor(states[1])
        x, h = self._dropped(inputs, h_prev, training)
        z = ops.linear(x, self.kernel, self.bias) + ops.matmul(h, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=1)
        i, f, o = self.recurrent_activation(z_i), self.recurrent_activation(z_f), self.recurrent_activation(z_o)
        c = f * c_prev + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]

    def _fused(self, x, states, params):
        act, rec = self._activation_names()
        return ops.lstm(x, self.kernel, self.recurrent_kernel, self.bias, states[:2], activation=act,
                        recurrent_activation=rec, **params)

    def get_config(self):
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


class GRUCell(_Cell):
    """z, r = σ(...) blocks;  h̃ = tanh(x W_h + b_h + r ⊙ (h U_h + b_rh)) (reset_after) or
    tanh(x W_h + (r ⊙ h) U_h + b_h);  h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃.

    Args:
        units: size of h. Call with ``x_t`` (batch, features) and ``states`` [h].
        reset_after: apply the reset gate after the recurrent matmul (Keras 3 default, the cuDNN
            and PyTorch form; bias (2, 3·units)) or before it (the original paper; bias (3·units,)).
    """

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
                         kernel_constraint, recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                         **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=None):
        h_prev = _first_state(states)
        x, h = self._dropped(inputs, h_prev, training)
        u = self.units
        if self.reset_after:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.use_bias else (None, None)
            x_z, x_r, x_h = ops.split(ops.linear(x, self.kernel, b_in), 3, axis=1)
            h_z, h_r, h_h = ops.split(ops.linear(h, self.recurrent_kernel, b_rec), 3, axis=1)
            z, r = self.recurrent_activation(x_z + h_z), self.recurrent_activation(x_r + h_r)
            candidate = self.activation(x_h + r * h_h)
        else:
            x_z, x_r, x_h = ops.split(ops.linear(x, self.kernel, self.bias), 3, axis=1)
            h_z, h_r = ops.split(ops.matmul(h, self.recurrent_kernel[:, :2 * u]), 2, axis=1)
            z, r = self.recurrent_activation(x_z + h_z), self.recurrent_activation(x_r + h_r)
            candidate = self.activation(x_h + ops.matmul(r * h, self.recurrent_kernel[:, 2 * u:]))
        h = z * h_prev + (1 - z) * candidate
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def _fused(self, x, states, params):
        act, rec = self._activation_names()
        return ops.gru(x, self.kernel, self.recurrent_kernel, self.bias, states[0], activation=act,
                       recurrent_activation=rec, reset_after=self.reset_after, **params)

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config
