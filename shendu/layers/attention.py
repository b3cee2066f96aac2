"""Attention: every query position takes a weighted average of the value positions.

    s_ij = score(q_i, k_j)                      dot: q_i·k_j     additive: Σ_d w_d tanh(q_id + k_jd)
    a_ij = exp(s_ij) / Σ_k exp(s_ik)            softmax over the key positions j
    out_i = Σ_j a_ij v_j

``Attention`` (Luong) and ``AdditiveAttention`` (Bahdanau) score the inputs as they are;
``MultiHeadAttention`` (Vaswani et al. 2017) first projects them into ``num_heads`` subspaces and
scores with the scaled dot product q·k / √key_dim. Masks are boolean, True where a position may be
attended to, and are applied exactly as Keras 3 applies them (each class says how).
"""
from __future__ import annotations

import math

import numpy as np

from shendu import backend, ops
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer, as_input
from shendu.layers.symbolic import KerasTensor, is_shape
from shendu.random import SeedGenerator
from shendu.tensor import Tensor, as_tensor

_LARGE = 1e9   # Keras's padding bias: exp(s - 1e9) underflows to exactly 0 in float32 and float64


def _bool_mask(mask):
    """A mask (Tensor, array, nested list or None) as a boolean backend array."""
    if mask is None:
        return None
    mask = mask.data if isinstance(mask, Tensor) else backend.asarray(mask)
    return mask if mask.dtype == bool else mask.astype(bool)


def _swap_last(x):
    """xᵀ over the last two axes (the batch axes stay in front)."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return ops.transpose(x, axes)


def causal_mask(query_length: int, key_length: int):
    """(1, Tq, Tk) booleans, True where j <= i: position i sees itself and the past only.

    Aligned at the top-left corner, as Keras aligns it, also when Tq != Tk.
    """
    xp = backend.xp
    return (xp.arange(query_length)[:, None] >= xp.arange(key_length)[None, :])[None]


def masked_softmax(scores, mask=None, axis: int = -1) -> Tensor:
    """a = softmax(s) along ``axis`` over the positions where ``mask`` is True; a = 0 elsewhere.

    Keras 3's Softmax(mask) rule: hidden scores are replaced by -1e9 (exp underflows to 0 without
    a nan), and the probabilities are zeroed again afterwards, so a row with nothing to attend to
    gives zeros instead of a uniform average.
    """
    if mask is None:
        return ops.softmax(scores, axis=axis)
    a = ops.softmax(ops.where(mask, scores, -_LARGE), axis=axis)
    return ops.where(mask, a, 0.0)


def scaled_dot_product_attention(q, k, v, mask=None, scale=None, dropout: float = 0.0, causal: bool = False,
                                 training: bool = True, rng=None, return_weights: bool = False):
    """out = softmax(scale · q kᵀ) v

        s_ij = scale q_i·k_j,   a_ij = exp(s_ij) / Σ_k exp(s_ik),   out_i = Σ_j a_ij v_j

    Composed from matmul and softmax, whose backward passes are already the cheap ones, and
    batched over every leading axis, so heads and batch entries need no Python loop.

    Args:
        q: queries (..., Tq, d_k). k: keys (..., Tk, d_k). v: values (..., Tk, d_v).
        mask: booleans broadcastable to (..., Tq, Tk), True where query i may attend to key j
            (hidden entries follow ``masked_softmax``).
        scale: multiplies q·k; None means 1/√d_k, which keeps the logits' variance near 1 so the
            softmax does not saturate as d_k grows.
        dropout: rate applied to the weights a in training; ``rng`` draws its mask.
        causal: also hide every key j > i (a decoder must not see the future).
        return_weights: also return a (..., Tq, Tk), taken before dropout.
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = ops.matmul(q * scale, _swap_last(k))     # scale q, not s: Tq·d_k products instead of Tq·Tk
    mask = _bool_mask(mask)
    if causal:
        below = causal_mask(q.shape[-2], k.shape[-2])[0]
        mask = below if mask is None else mask & below
    a = masked_softmax(s, mask)
    kept = ops.dropout(a, dropout, rng=rng, training=bool(training)) if dropout else a
    out = ops.matmul(kept, v)
    return (out, a) if return_weights else out


class Attention(Layer):
    """Dot-product (Luong) attention: s = q kᵀ (· scale), a = softmax(s) over the value positions, out = a v.

    Called on a list: ``Attention()([query, value])`` or ``([query, value, key])``; the key
    defaults to the value. Self-attention is ``Attention()([x, x])``.

    Args:
        use_scale: learn a scalar ``scale`` (starting at 1) that multiplies the scores.
        score_mode: 'dot' (s_ij = q_i·k_j) or 'concat' (s_ij = c Σ_d tanh(scale (q_id + k_jd)), c the
            learned ``concat_score_weight``).
        dropout: rate applied to the attention weights in training.
        seed: seeds the dropout mask.

    Call arguments:
        inputs: [query (batch, Tq, dim), value (batch, Tv, dim_v)] or [query, value, key (batch, Tv, dim)].
        mask: [query_mask (batch, Tq), value_mask (batch, Tv)]; taken from the inputs' Keras masks
            when not given. A hidden value gets the score s - 1e9 (weight 0); a hidden query gets
            output 0.
        return_attention_scores: also return a (batch, Tq, Tv), after masking and softmax.
        use_causal_mask: query i attends only to values j <= i.

    Output: (batch, Tq, dim_v); the mask of the query is passed on.
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. "
                             f"Received: score_mode={score_mode!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__} dropout must be in [0, 1), got {dropout}.")
        self.use_scale, self.score_mode, self.dropout, self.seed = use_scale, score_mode, dropout, seed
        # Keras holds a generator only when dropout draws; seed=None follows the shared one
        self.seed_generator = SeedGenerator(seed) if dropout > 0 else None
        self.supports_masking = True

    # ------------------------------------------------------------ inputs
    def __call__(self, inputs, *args, **kwargs):
        self._check_inputs(inputs)          # before the base class tries to build from a wrong input
        return super().__call__(inputs, *args, **kwargs)

    def _check_inputs(self, inputs):
        kind = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            shape = tuple(getattr(inputs, "shape", np.shape(inputs)))
            raise ValueError(f"{kind} layer '{self.name}' must be called on a list [query, value] or "
                             f"[query, value, key], got a single tensor of shape {shape}. For self-attention "
                             f"pass the same tensor twice: {kind}()([x, x]).")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(f"{kind} layer '{self.name}' must be called on a list of length 2 or 3, [query, value] "
                             f"or [query, value, key], got a list of {len(inputs)} tensors.")

    def _check_shapes(self, query_shape, value_shape, key_shape):
        kind = type(self).__name__
        if query_shape[-1] != key_shape[-1]:
            raise ValueError(f"{kind} layer '{self.name}' scores q·k, so the query and the key (the value when "
                             f"no key is given) need the same last axis; got query {tuple(query_shape)} and key "
                             f"{tuple(key_shape)}. Project one of them with Dense first.")
        if value_shape[-2] is not None and key_shape[-2] is not None and value_shape[-2] != key_shape[-2]:
            raise ValueError(f"{kind} layer '{self.name}': the key and the value need the same number of "
                             f"positions, got key {tuple(key_shape)} and value {tuple(value_shape)}.")

    @staticmethod
    def _split(shapes_or_tensors):
        query, value = shapes_or_tensors[0], shapes_or_tensors[1]
        return query, value, (shapes_or_tensors[2] if len(shapes_or_tensors) > 2 else value)

    # ------------------------------------------------------------ weights and math
    def _check_build_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{type(self).__name__} layer '{self.name}' builds from a list of shapes [query_shape, "
                             f"value_shape(, key_shape)], got {input_shape}.")
        self._check_inputs(input_shape)
        query_shape, value_shape, key_shape = self._split(input_shape)
        self._check_shapes(query_shape, value_shape, key_shape)
        return query_shape

    def build(self, input_shape):
        self._check_build_shapes(input_shape)
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones") \
            if self.score_mode == "concat" else None
        self.built = True

    def compute_output_shape(self, input_shape):
        """(batch, Tq, dim_v): the query's positions, the value's features."""
        self._check_inputs(input_shape)
        query_shape, value_shape, _ = self._split(input_shape)
        return tuple(query_shape[:-1]) + (value_shape[-1],)

    def compute_output_spec(self, inputs, *args, return_attention_scores=False, **kwargs):
        out = super().compute_output_spec(inputs)
        if not return_attention_scores:
            return out
        query, _, key = self._split(inputs)
        return out, KerasTensor(tuple(query.shape[:-1]) + (key.shape[-2],), self.dtype)

    def _scores(self, q, k):
        """s (batch, Tq, Tv) from q (batch, Tq, dim) and k (batch, Tv, dim)."""
        if self.score_mode == "dot":
            s = ops.matmul(q, _swap_last(k))
            return s * self.scale if self.scale is not None else s
        pairs = ops.expand_dims(q, -2) + ops.expand_dims(k, -3)       # (batch, Tq, Tv, dim): every q_i + k_j
        if self.scale is not None:
            pairs = pairs * self.scale
        return self.concat_score_weight * ops.sum(ops.tanh(pairs), axis=-1)

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        self._check_inputs(inputs)
        q, v, k = self._split(inputs)
        if mask is not None and not isinstance(mask, (list, tuple)):
            raise ValueError(f"{type(self).__name__} layer mask must be a list: pass mask=[query_mask, value_mask] "
                             f"(either may be None) to layer '{self.name}', got a single {type(mask).__name__}.")
        if mask is not None and not 2 <= len(mask) <= 3:
            raise ValueError(f"{type(self).__name__} layer '{self.name}': mask must be a list of length 2 or 3, "
                             f"[query_mask, value_mask(, key_mask)], got a list of {len(mask)}.")
        q_mask = _bool_mask(mask[0]) if mask else None
        v_mask = _bool_mask(mask[1]) if mask else None
        s = self._scores(q, k)
        keep = None if v_mask is None else v_mask[..., None, :]            # (batch, 1, Tv)
        if use_causal_mask:
            below = causal_mask(s.shape[-2], s.shape[-1])                 # (1, Tq, Tv)
            keep = below if keep is None else keep & below
        if keep is not None:
            # this layer's Keras rule: hidden scores become s - 1e9 (not replaced), then the softmax
            s = s + backend.xp.where(keep, 0.0, -_LARGE).astype(s.dtype)
        a = ops.softmax(s, axis=-1)
        kept = ops.dropout(a, self.dropout, rng=self.seed_generator.generator, training=bool(training)) \
            if self.dropout else a
        out = ops.matmul(kept, v)
        if q_mask is not None:
            out = ops.where(q_mask[..., None], out, 0.0)                 # hidden queries output 0
        # the weights returned are the ones applied: after dropout in training, as Keras 3 returns them
        return (out, kept) if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        if not mask:
            return None
        return _bool_mask(mask[0])

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: s_ij = Σ_d scale_d tanh(q_id + k_jd), a = softmax(s), out = a v.

    Called and masked like ``Attention``: ``AdditiveAttention()([query, value])`` or
    ``([query, value, key])``. https://arxiv.org/abs/1409.0473

    Args:
        use_scale: learn the vector ``scale`` (dim,) weighting the tanh features (glorot_uniform);
            without it every feature counts 1.
        dropout: rate applied to the attention weights in training.
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        query_shape = self._check_build_shapes(input_shape)
        self.scale = self.add_weight("scale", (query_shape[-1],), "glorot_uniform") if self.use_scale else None
        self.concat_score_weight = None
        self.built = True

    def _scores(self, q, k):
        t = ops.tanh(ops.expand_dims(q, -2) + ops.expand_dims(k, -3))   # (batch, Tq, Tv, dim)
        return ops.sum(t * self.scale if self.scale is not None else t, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config


class _FoldedInit:
    """Draw a variance-scaling kernel as the matrix (fan_in, fan_out), then fold it to its einsum shape.

    Keras 3's EinsumDense tells the initializer which axes are inputs and which outputs, so the
    query kernel (dim, heads, key_dim) has fan_in = dim and fan_out = heads·key_dim, not the
    convolution reading of a 3-D shape.
    """

    def __init__(self, init, n_in):
        self.init, self.n_in = init, n_in

    def __call__(self, shape, dtype=None):
        if not isinstance(self.init, initializers_module.VarianceScaling):
            return self.init(shape, dtype=dtype)
        fan_in = int(np.prod(shape[:self.n_in]))
        return backend.xp.reshape(self.init((fan_in, int(np.prod(shape[self.n_in:]))), dtype=dtype), shape)


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762):

        Q_h = query W_q[h] + b_q[h],   K_h = key W_k[h] + b_k[h],   V_h = value W_v[h] + b_v[h]
        O_h = softmax(Q_h K_hᵀ / √key_dim) V_h               one ``scaled_dot_product_attention`` per head
        out = Σ_h O_h W_o[h] + b_o                            the heads joined and projected back

    The projections are laid out as (batch, heads, T, key_dim), so every head and batch entry goes
    through one batched matmul.

    Weights, in Keras 3's order and layouts (``set_weights`` from a Keras MultiHeadAttention
    reproduces it): query/kernel (dim, heads, key_dim), query/bias (heads, key_dim), key/kernel,
    key/bias, [gate/kernel, gate/bias], value/kernel (dim_v, heads, value_dim), value/bias,
    attention_output/kernel (heads, value_dim, *output_shape), attention_output/bias (output_shape).

    Args:
        num_heads: number of heads. key_dim: size of each head's query and key.
        value_dim: size of each head's value (default key_dim).
        dropout: rate applied to the attention weights in training.
        use_bias: add the biases to the four projections.
        output_shape: the output's feature shape (default: the query's last axis).
        attention_axes: the axes attended over (default: every axis between batch and features).
        sliding_window: query i sees only keys with |i - j| < sliding_window.
        use_gate: multiply each head's output by sigmoid(query W_g + b_g) (Qiu et al. 2025).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: as for Dense, for all projections. seed: seeds the dropout mask.

    Call arguments: ``mha(query, value, key=None, ...)``: query (batch, Tq, dim), value
        (batch, Tv, dim_v), key (batch, Tv, dim_k, default value). Masks (True = attend): the Keras
        masks of query, value and key (or query_mask, value_mask, key_mask), the causal triangle
        (use_causal_mask) and attention_mask (batch, Tq, Tv) are combined with AND, as in Keras 3;
        hidden weights follow ``masked_softmax``. return_attention_scores adds a (batch, heads, Tq, Tv).
        An explicit query_mask is honoured (Keras 3 reads the query's mask from the tensor only).

    Example: ``y = MultiHeadAttention(num_heads=4, key_dim=16)(x, x)`` is self-attention.
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        for arg, value in (("num_heads", num_heads), ("key_dim", key_dim), ("value_dim", value_dim),
                           ("sliding_window", sliding_window)):
            if (value is not None or arg in ("num_heads", "key_dim")) and (
                    not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"MultiHeadAttention {arg} must be a positive integer, got {value!r}.")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention dropout must be in [0, 1), got {dropout}.")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim else self.key_dim
        self.dropout, self.use_bias, self.use_gate, self.seed = dropout, use_bias, use_gate, seed
        if isinstance(output_shape, (int, np.integer)):
            output_shape = (int(output_shape),)
        self._output_shape = tuple(output_shape) if output_shape else None   # "output_shape" is Keras's name too
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        self.attention_axes = tuple(attention_axes) if attention_axes is not None else None
        self.sliding_window, self.flash_attention = sliding_window, flash_attention   # numpy has no flash kernel
        self.kernel_initializer = initializers_module.get(kernel_initializer)
        self.bias_initializer = initializers_module.get(bias_initializer)
        self.kernel_regularizer = regularizers_module.get(kernel_regularizer)
        self.bias_regularizer = regularizers_module.get(bias_regularizer)
        self.kernel_constraint = constraints_module.get(kernel_constraint)
        self.bias_constraint = constraints_module.get(bias_constraint)
        self._rng = backend.xp.random.default_rng(seed) if seed is not None else None
        self.supports_masking = True

    # ------------------------------------------------------------ building
    def __call__(self, query, value=None, key=None, **kwargs):
        if value is None:
            if isinstance(query, (list, tuple)):
                raise ValueError(f"MultiHeadAttention layer '{self.name}' takes query and value as separate "
                                 f"arguments, not a list: write mha(query, value) (or mha(query, value, key)); "
                                 f"for self-attention mha(x, x).")
            shape = tuple(getattr(query, "shape", np.shape(query)))
            raise ValueError(f"MultiHeadAttention layer '{self.name}' needs a query and a value: call it as "
                             f"mha(query, value) or mha(query, value, key), got only a query of shape {shape}. "
                             f"For self-attention pass the same tensor twice: mha(x, x).")
        if not self.built:                  # the base class would build from the query alone
            def shape(t):
                return None if t is None else (None,) + tuple(getattr(t, "shape", np.shape(t)))[1:]
            self._build_shape = shape(query)
            self.build(shape(query), shape(value), shape(key))
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        return super().__call__(query, value, key, **kwargs)

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(f"MultiHeadAttention layer '{self.name}': the key and the value need the same shape "
                             f"except the last axis, got value {tuple(value_shape)} and key {tuple(key_shape)}.")
        if any(s[-1] is None for s in (query_shape, value_shape, key_shape)):
            raise ValueError(f"MultiHeadAttention layer '{self.name}' needs known feature sizes (last axis), got "
                             f"query {tuple(query_shape)}, value {tuple(value_shape)}, key {tuple(key_shape)}.")
        rank = len(query_shape) + 1        # after projection: (batch, ..., heads, channels)
        if rank < 4:
            raise ValueError(f"MultiHeadAttention layer '{self.name}' expects a query (batch, T, dim), got shape "
                             f"{tuple(query_shape)}.")
        if self.attention_axes is None:
            self.attention_axes = tuple(range(1, rank - 2))
        else:                              # Keras counts negative axes from the projected rank minus one
            self.attention_axes = tuple(a if a >= 0 else rank - 1 + a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 3 for a in self.attention_axes):
            raise ValueError(f"MultiHeadAttention layer '{self.name}': attention_axes must name axes between the "
                             f"batch axis and the feature axis of a query of rank {rank - 1} (1..{rank - 3}), got "
                             f"{self.attention_axes}.")
        heads = self.num_heads
        out_shape = self._output_shape or (query_shape[-1],)
        names = ["query", "key"] + (["gate"] if self.use_gate else []) + ["value"]
        dims = {"query": (query_shape[-1], self.key_dim), "key": (key_shape[-1], self.key_dim),
                "gate": (query_shape[-1], self.value_dim), "value": (value_shape[-1], self.value_dim)}
        for name in names:
            dim, size = dims[name]
            self._projection(name, (dim, heads, size), (heads, size), 1)
        self._projection("attention_output", (heads, self.value_dim) + tuple(out_shape), tuple(out_shape), 2)
        self.built = True

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """The query's shape with its last axis replaced by ``output_shape`` (default: kept)."""
        if value_shape is None and isinstance(query_shape, list) and not is_shape(query_shape):
            query_shape, value_shape, key_shape = (list(query_shape) + [None, None])[:3]
        return tuple(query_shape[:-1]) + tuple(self._output_shape or (query_shape[-1],))

    def compute_output_spec(self, query, value=None, key=None, return_attention_scores=False, **kwargs):
        out = KerasTensor(self.compute_output_shape(query.shape, getattr(value, "shape", None),
                                                    getattr(key, "shape", None)), self.dtype)
        if not return_attention_scores:
            return out
        # scores (batch, unattended axes, heads, *query's attended axes, *key's attended axes)
        keys = (key if key is not None else value).shape
        axes = list(self.attention_axes)
        lead = [query.shape[i] for i in range(len(query.shape) - 1) if i not in axes]
        shape = tuple(lead) + (self.num_heads,) + tuple(query.shape[a] for a in axes) + tuple(keys[a] for a in axes)
        return out, KerasTensor(shape, self.dtype)

    def _projection(self, name, kernel_shape, bias_shape, n_in):
        kernel = self.add_weight(f"{name}/kernel", kernel_shape, _FoldedInit(self.kernel_initializer, n_in),
                                 regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        bias = self.add_weight(f"{name}/bias", bias_shape, self.bias_initializer, regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint) if self.use_bias else None
        for w, short in ((kernel, "kernel"), (bias, "bias")):
            if w is not None:
                w.name = short                 # Keras's variable name; the path keeps "<layer>/<name>/kernel"
        setattr(self, f"{name}_kernel", kernel)
        setattr(self, f"{name}_bias", bias)

    # ------------------------------------------------------------ math
    @staticmethod
    def _project(x, kernel, bias, n_in):
        """Contract the last ``n_in`` axes of x with the first ``n_in`` of the kernel: one fused x W + b."""
        lead = x.shape[:x.ndim - n_in]
        fan_in = int(np.prod(kernel.shape[:n_in]))
        y = ops.linear(ops.reshape(x, lead + (fan_in,)), ops.reshape(kernel, (fan_in, -1)),
                       None if bias is None else ops.reshape(bias, (-1,)))
        return ops.reshape(y, lead + tuple(kernel.shape[n_in:]))

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras 3's rule: query mask (batch, Tq, 1) & value and key masks (batch, 1, Tv) & the causal
        triangle (1, Tq, Tv) & the sliding band & ``attention_mask``; None when nothing is hidden."""
        xp = backend.xp
        parts = []
        if query_mask is not None:
            parts.append(_bool_mask(query_mask)[..., None])
        for m in (value_mask, key_mask):
            if m is not None:
                parts.append(_bool_mask(m)[..., None, :])
        if use_causal_mask:
            parts.append(causal_mask(query.shape[1], value.shape[1]))
        if self.sliding_window is not None:
            i, j = xp.arange(query.shape[1])[:, None], xp.arange(value.shape[1])[None, :]
            parts.append((xp.abs(i - j) < self.sliding_window)[None])
        if attention_mask is not None:
            parts.append(_bool_mask(attention_mask))
        if not parts:
            return None
        mask = parts[0]
        for m in parts[1:]:
            mask = mask & m
        return mask

    def _attend(self, q, k, v, mask, training):
        """Scaled dot-product attention over ``attention_axes`` for every batch entry, other axis and head.

        q (batch, ..., heads, key_dim) is permuted to (batch, other axes, heads, Tq, key_dim), with the
        attended axes flattened into Tq (Tk for k and v), so one batched matmul serves all heads.
        """
        rank, axes = q.ndim, list(self.attention_axes)
        lead_axes = [i for i in range(rank - 1) if i not in axes]          # batch, unattended axes, heads
        perm = lead_axes + axes + [rank - 1]
        lead = tuple(q.shape[i] for i in lead_axes)
        q_att, k_att = tuple(q.shape[i] for i in axes), tuple(k.shape[i] for i in axes)
        if tuple(k.shape[i] for i in lead_axes) != lead:
            raise ValueError(f"MultiHeadAttention layer '{self.name}': the query and the key/value must agree on "
                             f"every axis not attended over, got projected shapes {q.shape} and {k.shape}.")
        tq, tk = int(np.prod(q_att)), int(np.prod(k_att))

        def flat(x, length):
            return ops.reshape(ops.transpose(x, perm), lead + (length, x.shape[-1]))

        if mask is not None:
            # Keras inserts the missing axes (heads, ...) in front of the attended ones, then we flatten those
            n = 2 * len(axes)
            while mask.ndim < len(lead) + n:
                mask = backend.xp.expand_dims(mask, axis=-n - 1)
            front = mask.shape[:mask.ndim - n]
            mask = backend.xp.broadcast_to(mask, front + q_att + k_att).reshape(front + (tq, tk))
        out, a = scaled_dot_product_attention(flat(q, tq), flat(k, tk), flat(v, tk), mask=mask,
                                              scale=1.0 / math.sqrt(self.key_dim), dropout=self.dropout,
                                              training=training, rng=self._rng, return_weights=True)
        out = ops.reshape(out, lead + q_att + (self.value_dim,))
        out = ops.transpose(out, tuple(int(i) for i in np.argsort(perm)))    # back to (batch, ..., heads, value_dim)
        return out, ops.reshape(a, lead + q_att + k_att)

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False):
        own_key = key is not None and key is not value      # Keras ignores the key's mask when key is value
        value = self._cast_input(as_input(value))
        key = self._cast_input(as_input(key)) if own_key else value
        if query_mask is None:
            query_mask = getattr(query, "_keras_mask", None)
        if value_mask is None:
            value_mask = getattr(value, "_keras_mask", None)
        if key_mask is None and own_key:
            key_mask = getattr(key, "_keras_mask", None)
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                    use_causal_mask)
        q = self._project(query, self.query_kernel, self.query_bias, 1)     # (batch, Tq, heads, key_dim)
        k = self._project(key, self.key_kernel, self.key_bias, 1)           # (batch, Tv, heads, key_dim)
        v = self._project(value, self.value_kernel, self.value_bias, 1)     # (batch, Tv, heads, value_dim)
        out, scores = self._attend(q, k, v, mask, training)
        if self.use_gate:
            out = out * ops.sigmoid(self._project(query, self.gate_kernel, self.gate_bias, 1))
        out = self._project(out, self.attention_output_kernel, self.attention_output_bias, 2)
        return (out, scores) if return_attention_scores else out

    def get_config(self):
        ser = initializers_module.serialize
        reg = regularizers_module.serialize
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "use_gate": self.use_gate, "output_shape": self._output_shape, "attention_axes": self.attention_axes,
                "sliding_window": self.sliding_window, "kernel_initializer": ser(self.kernel_initializer),
                "bias_initializer": ser(self.bias_initializer), "kernel_regularizer": reg(self.kernel_regularizer),
                "bias_regularizer": reg(self.bias_regularizer), "activity_regularizer": reg(self.activity_regularizer),
                "kernel_constraint": constraints_module.serialize(self.kernel_constraint),
                "bias_constraint": constraints_module.serialize(self.bias_constraint), "seed": self.seed}
