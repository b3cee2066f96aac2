"""Watching one logged quantity: ``MonitorCallback`` (is this epoch an improvement?) and ``EarlyStopping``.

Improvement, with δ = ``min_delta`` ≥ 0:
    mode 'min':  current + δ < best        mode 'max':  current − δ > best
"""
from __future__ import annotations

import warnings

import numpy as np

from shendu.callbacks.base import Callback

# Fallback for mode='auto' when the model has no metric object that states its direction (Keras 3
# reads `metric._direction`); the names are Keras's metric names and aliases.
_HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "cosine_similarity",
                     "true_positives", "true_negatives", "specificity", "sensitivity")
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence", "kld",
                    "poisson", "logcosh", "false_positives", "false_negatives")


def _model_metrics(model):
    """Metric objects the model tracks: Keras's ``model.metrics`` or shendu's compiled metric list."""
    found = list(getattr(model, "metrics", None) or [])
    found += [entry[1] for entry in getattr(model, "_metric_objs", None) or []]
    return found


def infer_direction(model, monitor: str):
    """'min', 'max' or None (unknown) for a logged name such as 'val_accuracy'."""
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    for metric in _model_metrics(model):
        if getattr(metric, "name", None) == name and getattr(metric, "_direction", None) in ("up", "down"):
            return "max" if metric._direction == "up" else "min"
    if any(word in name for word in _HIGHER_IS_BETTER):
        return "max"
    if any(word in name for word in _LOWER_IS_BETTER):
        return "min"
    return None


class MonitorCallback(Callback):
    """Base for callbacks that track the best value of ``monitor`` (EarlyStopping, ModelCheckpoint,
    ReduceLROnPlateau).

    Args:
        monitor: the logs key to watch, e.g. 'val_loss' or 'val_accuracy'.
        mode: 'min', 'max', or 'auto' (inferred from the name: losses fall, accuracies rise).
        baseline: the initial best value; None takes the first value seen.
        min_delta: a change smaller than this does not count as an improvement.
    """

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        # Called lazily at the first epoch end, when the model's metrics exist.
        direction = self.mode if self.mode != "auto" else infer_direction(self.model, self.monitor)
        if direction is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but shendu (like Keras) cannot "
                "tell whether that metric should be maximized or minimized. Pass `mode='max'` to keep the "
                "highest value, or `mode='min'` to keep the lowest.")
        self.monitor_op = np.less if direction == "min" else np.greater

    def _is_improvement(self, current, reference) -> bool:
        if reference is None:
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        delta = -self.min_delta if self.monitor_op is np.less else self.min_delta
        return bool(self.monitor_op(current - delta, reference))


def _missing_monitor_warning(what: str, monitor: str, logs) -> None:
    warnings.warn(f"{what} conditioned on metric `{monitor}` which is not available. Available metrics are: "
                  f"{','.join(logs)}", stacklevel=3)


class EarlyStopping(MonitorCallback):
    """Stop ``fit`` once ``monitor`` has not improved for ``patience`` epochs.

    Each monitored epoch: wait += 1; an improvement sets best = current and (if it also beats
    ``baseline``) wait = 0; otherwise training stops when wait ≥ patience (never after epoch 0).

    Args:
        monitor: logs key to watch. Defaults to 'val_loss'.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: 'auto', 'min' or 'max'.
        baseline: a value the metric must beat to reset the patience counter.
        restore_best_weights: at the end of training, put back the weights of the best epoch
            (whether or not training stopped early).
        start_from_epoch: epochs of warm-up that are not monitored.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.wait = 0
        self.stopped_epoch = 0
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        # reset, so one instance can serve several fit() calls
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # the first monitored epoch is the best so far, even if it misses the baseline
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            _missing_monitor_warning("Early stopping", self.monitor, logs)
        return value
