"""Embedding (token id -> learned vector) and Masking (skip padded steps downstream)."""
from __future__ import annotations

import numpy as np

from shendu import backend, ops
from shendu import constraints as constraints_module
from shendu import initializers as initializers_module
from shendu import regularizers as regularizers_module
from shendu.layers.base import Layer, same_shape
from shendu.tensor import Tensor


def _values(x):
    """The array of a Tensor, or an array-like given directly (``layer.compute_mask(np.array(...))``)."""
    return x.data if isinstance(x, Tensor) else backend.asarray(x)


class Embedding(Layer):
    """y[b, t] = E[ids[b, t]]: a lookup table of ``input_dim`` rows of length ``output_dim``.

    Equal to one_hot(ids) @ E, computed as a row gather; the gradient scatter-adds into the rows
    that were looked up (a row used twice gets both gradients).

    Args:
        input_dim: number of rows = largest token id + 1 (the vocabulary size + 1 when 0 is padding).
        output_dim: length of each vector.
        embeddings_initializer: Keras's default 'uniform' is U(-0.05, 0.05).
        mask_zero: treat id 0 as padding: the output carries a mask (ids != 0) that recurrent
            layers use to skip those steps.
        input_length: tf.keras 2 argument, accepted; when given, inputs must have that many steps.
        weights: initial table, e.g. ``weights=[pretrained]`` with ``trainable=False``.
    Input (batch, time) integer ids; output (batch, time, output_dim).
    """

    input_dtype = "int32"          # Sequential dry-runs this layer on integer ids

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, input_length=None,
                 activity_regularizer=None, quantization_config=None, **kwargs):
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Embedding: `{arg}` must be a positive integer. Received: {arg}={value!r}")
        if input_length is not None and (not isinstance(input_length, (int, np.integer)) or input_length <= 0):
            raise ValueError(f"Embedding input_length must be a positive integer or None, got {input_length!r} "
                             f"(Keras 3 no longer needs it: the layer works for any sequence length).")
        if quantization_config is not None:
            raise NotImplementedError("Embedding: quantization is not supported by shendu.")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        if embeddings_initializer == "uniform":         # Keras's alias for RandomUniform(-0.05, 0.05)
            embeddings_initializer = initializers_module.RandomUniform()
        self.embeddings_initializer = initializers_module.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers_module.get(embeddings_regularizer)
        self.embeddings_constraint = constraints_module.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.input_length = input_length
        if weights is not None:                          # Keras builds at once so the table can be loaded
            self.build()
            self.set_weights(weights if isinstance(weights, (list, tuple)) else [weights])

    def build(self, input_shape=None):
        if self.built:
            return
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _cast_input(self, x):
        return x                  # ids stay as given: a float cast must not touch them

    def call(self, inputs):
        ids = inputs.data
        if ids.dtype.kind == "f":
            if ids.size and not bool((ids == backend.xp.round(ids)).all()):
                raise TypeError(f"Embedding '{self.name}' expects integer token ids but got non-integral "
                                f"{ids.dtype} values; convert text to ids first (Tokenizer, TextVectorization).")
            ids = ids.astype("int64")
        elif ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding '{self.name}' expects integer token ids, got dtype {ids.dtype}.")
        if self.input_length is not None and ids.ndim >= 2 and ids.shape[1] != self.input_length:
            raise ValueError(f"Embedding '{self.name}' was declared with input_length={self.input_length} but got "
                             f"sequences of length {ids.shape[1]}; pad them to {self.input_length} (pad_sequences("
                             f"maxlen={self.input_length})) or remove input_length, which Keras 3 no longer needs.")
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if high >= self.input_dim:
                raise IndexError(f"Embedding '{self.name}': index {high} is out of range for input_dim="
                                 f"{self.input_dim}; input_dim must be larger than the largest index (vocabulary "
                                 f"size + 1 when index 0 is padding).")
            if low < 0:
                raise IndexError(f"Embedding '{self.name}': index {low} is negative; token ids must be in "
                                 f"[0, input_dim={self.input_dim}).")
        return ops.embedding(ids, self.embeddings)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return _values(inputs) != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers_module.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers_module.serialize(self.embeddings_regularizer),
                "activity_regularizer": regularizers_module.serialize(self.activity_regularizer),
                "embeddings_constraint": constraints_module.serialize(self.embeddings_constraint),
                "mask_zero": self.mask_zero, "quantization_config": None}


class Masking(Layer):
    """y = x ⊙ mask with mask[b, t] = any_f(x[b, t, f] != mask_value): steps equal to ``mask_value``
    everywhere become zeros and are skipped by the recurrent layers that follow.

    Input (batch, time, features); output the same shape, carrying the mask (batch, time).
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True
        self._build_at_init()

    compute_output_shape = same_shape

    def compute_mask(self, inputs, mask=None):
        return backend.xp.any(_values(inputs) != self.mask_value, axis=-1)

    def call(self, inputs):
        keep = backend.xp.any(inputs.data != self.mask_value, axis=-1, keepdims=True)
        return inputs * keep.astype(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
