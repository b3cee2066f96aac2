"""A layer's dtype policy, Keras 3's ``DTypePolicy``: the dtype its weights are stored in and the dtype it
computes in. shendu has one dtype per layer, so both are the same; mixed-precision and quantized
policies ('mixed_float16', 'int8_from_float32') are out of scope and refused by ``backend.dtype``."""
from __future__ import annotations

from shendu import backend


class DTypePolicy:
    """``DTypePolicy('float32')``: ``name``, ``variable_dtype`` and ``compute_dtype`` are all that dtype."""

    quantization_mode = None

    def __init__(self, name=None):
        self._name = backend.dtype(name if name is not None else backend.floatx).name

    @property
    def name(self) -> str:
        return self._name

    @property
    def variable_dtype(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._name

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'
