"""Weight penalties added to the loss: L1 = l1 Σ|w| (sparsity), L2 = l2 Σ w² (weight decay)."""
from __future__ import annotations

from shendu import ops
from shendu.serialization import lookup
from shendu.serialization import serialize as _serialize


class Regularizer:
    def __call__(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """penalty = l1 Σ|w| + l2 Σ w²"""
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, w):
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * ops.sum(ops.abs(w))
        if self.l2:
            penalty = penalty + self.l2 * ops.sum(w * w)
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """penalty = l1 Σ|w|"""
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """penalty = l2 Σ w²"""
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2
_REGISTRY = {"L1": L1, "L2": L2, "L1L2": L1L2}
_ALIASES = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "l1l2": "L1L2"}


def get(identifier):
    """A regularizer from a name ('l2'), a config dict, an instance or a callable."""
    if identifier is None or isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    return lookup("regularizer", identifier, _REGISTRY, _ALIASES)


def serialize(regularizer):
    return _serialize(regularizer, "keras.regularizers")


deserialize = get
