"""Metrics read at one operating point of a classifier: the best sensitivity (recall) reachable while the
specificity stays at least a target, and the three siblings. Each keeps the four confusion counts at
``num_thresholds`` evenly spaced thresholds 0, 1/(n-1), ..., 1 and, at ``result()``, takes the best
value of one rate over the thresholds where the other rate meets the target (0.0 when none does)."""
from __future__ import annotations

import numpy as np

from shendu.metrics.base import divide_no_nan
from shendu.metrics.confusion import _ConfusionMetric


class SensitivitySpecificityBase(_ConfusionMetric):
    """The shared state and search. Args: the target ``value`` in [0, 1]; ``num_thresholds`` (> 0; 1 means the
    single threshold 0.5); ``class_id`` to score one column of (batch, classes) predictions."""
    target_name = "value"       # the rate held at least at the target, as the argument is named
    best_rate = None             # the rate maximised under that constraint

    def __init__(self, value, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(f"Argument `{self.target_name}` must be in the range [0, 1]. Received: "
                             f"{self.target_name}={value}")
        if not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds}")
        self.value, self.num_thresholds = value, num_thresholds
        setattr(self, self.target_name, value)
        if num_thresholds == 1:
            thresholds = [0.5]
        else:
            thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
        super().__init__(thresholds=thresholds, class_id=class_id, name=name, dtype=dtype)

    def _rates(self):
        c = self.counts
        sensitivity = divide_no_nan(c["tp"], c["tp"] + c["fn"])
        return {"sensitivity": sensitivity, "recall": sensitivity,
                "specificity": divide_no_nan(c["tn"], c["tn"] + c["fp"]),
                "precision": divide_no_nan(c["tp"], c["tp"] + c["fp"])}

    def result(self):
        """max ``best_rate`` over the thresholds where ``target_name``'s rate >= the target; 0.0 where none does."""
        rates = self._rates()
        feasible = rates[self.target_name] >= self.value
        return float(np.max(np.where(feasible, rates[self.best_rate], 0.0), initial=0.0))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self.target_name: self.value}


class SensitivityAtSpecificity(SensitivitySpecificityBase):
    """The best sensitivity tp / (tp + fn) among thresholds whose specificity tn / (tn + fp) >= ``specificity``."""
    target_name, best_rate = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class SpecificityAtSensitivity(SensitivitySpecificityBase):
    """The best specificity among thresholds whose sensitivity >= ``sensitivity``."""
    target_name, best_rate = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class PrecisionAtRecall(SensitivitySpecificityBase):
    """The best precision tp / (tp + fp) among thresholds whose recall >= ``recall``."""
    target_name, best_rate = "recall", "precision"

    def __init__(self, recall, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)


class RecallAtPrecision(SensitivitySpecificityBase):
    """The best recall among thresholds whose precision >= ``precision``; 0.0 when no threshold reaches it."""
    target_name, best_rate = "precision", "recall"

    def __init__(self, precision, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)
