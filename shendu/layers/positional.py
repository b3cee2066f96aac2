"""Word order for attention, which by itself treats a sequence as a set.

``PositionalEncoding`` adds fixed sinusoids (Vaswani et al. 2017, section 3.5):

    PE[pos, 2i]   = sin(pos / 10000^(2i/d))
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

``PositionEmbedding`` is a learned table with one row per position, as keras_hub's layer of that name.
"""
from __future__ import annotations

from shendu import backend, ops
from shendu import initializers as initializers_module
from shendu.layers.base import Layer, same_shape
from shendu.tensor import Tensor


def positional_encoding(length: int, depth: int, max_wavelength: float = 10000.0):
    """The (length, depth) table PE[pos, 2i] = sin(pos / max_wavelength^(2i/depth)), PE[pos, 2i+1] = cos(same).

    Feature pair i is a clock turning at its own speed, from one radian per position (i = 0) down to
    one turn every 2π·max_wavelength positions; PE[pos + k] is a rotation of PE[pos], so relative
    offsets are a linear function the model can learn. Computed in float64; the caller casts.
    """
    xp = backend.xp
    pos = xp.arange(length, dtype="float64")[:, None]              # (length, 1)
    i2 = (xp.arange(depth) // 2 * 2).astype("float64")[None, :]     # 2i for features 2i and 2i+1
    angle = pos / max_wavelength ** (i2 / depth)
    even = (xp.arange(depth) % 2 == 0)[None, :]
    return xp.where(even, xp.sin(angle), xp.cos(angle))


class PositionalEncoding(Layer):
    """y = x + PE[:T]: the sinusoidal table of ``positional_encoding`` added along the time axis.

    No weights. Positions run along the second-to-last axis, so inputs are (batch, T, d)
    (any leading axes allowed); the output has the same shape and keeps the input's mask.

    Args:
        max_wavelength: the base of the formula (10000 in the paper).

    Example: ``x = PositionalEncoding()(Embedding(vocab_size, 64)(tokens))``
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        if max_wavelength <= 1:
            raise ValueError(f"PositionalEncoding max_wavelength must be greater than 1, got {max_wavelength}.")
        self.max_wavelength = max_wavelength
        self.supports_masking = True
        self._table = None
        self._build_at_init()

    compute_output_shape = same_shape

    def call(self, inputs):
        if inputs.ndim < 2:
            raise ValueError(f"PositionalEncoding layer '{self.name}' expects inputs (batch, T, features), got shape "
                             f"{tuple(inputs.shape)}.")
        length, depth = inputs.shape[-2], inputs.shape[-1]
        table = self._table
        if table is None or table.shape[0] < length or table.shape[1] != depth or table.dtype != inputs.dtype:
            table = positional_encoding(length, depth, self.max_wavelength).astype(inputs.dtype)
            self._table = table             # reused by every later call on sequences this long or shorter
        return inputs + Tensor._wrap(table[:length], False)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


class PositionEmbedding(Layer):
    """y = E[start_index : start_index + T], broadcast to the input's shape: a learned row per position.

    Returns the position embeddings only (as keras_hub does); add them yourself:
    ``x = tokens_embedded + PositionEmbedding(sequence_length)(tokens_embedded)``.

    Args:
        sequence_length: the longest sequence; the weight ``embeddings`` is (sequence_length, d).
        initializer: for the table (default glorot_uniform).

    Call arguments: inputs (batch, T, d); start_index: the position of the first step (for decoding
    one token at a time).
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(sequence_length, int) or sequence_length <= 0:
            raise ValueError(f"PositionEmbedding sequence_length must be a positive integer, got {sequence_length!r}.")
        self.sequence_length = sequence_length
        self.initializer = initializers_module.get(initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"PositionEmbedding layer '{self.name}' needs the feature axis known, got {input_shape}.")
        self.position_embeddings = self.add_weight("embeddings", (self.sequence_length, input_shape[-1]),
                                                   self.initializer)
        self.built = True

    compute_output_shape = same_shape

    def call(self, inputs, start_index=0):
        length = inputs.shape[-2]
        if start_index + length > self.sequence_length:
            raise ValueError(f"PositionEmbedding layer '{self.name}' has {self.sequence_length} positions but was "
                             f"asked for positions {start_index}..{start_index + length - 1}; build it with a larger "
                             f"sequence_length.")
        rows = ops.getitem(self.position_embeddings, slice(start_index, start_index + length))
        return ops.broadcast_to(rows, inputs.shape)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": initializers_module.serialize(self.initializer)}
