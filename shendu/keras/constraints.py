"""``keras.constraints``."""
from shendu.constraints import (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, deserialize, get, max_norm,
                                min_max_norm, non_neg, serialize, unit_norm)

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get", "max_norm",
           "min_max_norm", "non_neg", "serialize", "unit_norm"]
