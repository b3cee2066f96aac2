"""Callbacks that change ``model.optimizer.learning_rate`` between epochs: ``LearningRateScheduler`` and
``ReduceLROnPlateau``. Both add the rate in use to the epoch logs as 'learning_rate' (Keras 3)."""
from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from shendu.callbacks.base import Callback
from shendu.callbacks.monitor import MonitorCallback


def _optimizer(model, who: str):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"{who} changes model.optimizer.learning_rate, but the model has no optimizer with a "
                         "learning_rate; call model.compile(optimizer=...) before fit().")
    return optimizer


def _log_learning_rate(model, logs) -> None:
    if logs is not None:
        logs["learning_rate"] = float(model.optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """At each epoch begin: lr = schedule(epoch, lr)  (or schedule(epoch) for a one-argument function).

    Args:
        schedule: a function of the epoch index (from 0) and the current rate, returning the new rate,
            e.g. ``lambda epoch, lr: lr if epoch < 10 else lr * 0.9``.
        verbose: 1 prints the rate set at each epoch.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _takes_lr(self) -> bool:
        try:
            params = inspect.signature(self.schedule).parameters.values()
        except (TypeError, ValueError):          # a builtin without a signature: assume the Keras 3 form
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer(self.model, "LearningRateScheduler")
        lr = self.schedule(epoch, float(optimizer.learning_rate)) if self._takes_lr() else self.schedule(epoch)
        if isinstance(lr, np.ndarray) and lr.ndim == 0:
            lr = lr.item()
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr!r}; return a "
                             "number such as `lr * 0.9`.")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        _log_learning_rate(self.model, logs)


class ReduceLROnPlateau(MonitorCallback):
    """lr ← max(lr · factor, min_lr) once ``monitor`` has not improved for ``patience`` epochs; then wait
    ``cooldown`` epochs before counting again.

    Args:
        monitor: logs key to watch. Defaults to 'val_loss'.
        factor: multiplier for the rate, < 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: 'auto', 'min' or 'max'.
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs after a reduction during which no new reduction is counted.
        min_lr: the rate never goes below this.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        if "epsilon" in kwargs:                  # tf.keras 1 spelling
            warnings.warn("`epsilon` is deprecated; use `min_delta=`.", DeprecationWarning, stacklevel=2)
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau() got unexpected keyword argument(s) {sorted(kwargs)}.")
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}; the "
                             "new rate is lr * factor, so use e.g. factor=0.5 to halve it.")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        _log_learning_rate(self.model, logs)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, epoch) -> bool:
        optimizer = _optimizer(self.model, "ReduceLROnPlateau")
        old_lr = float(optimizer.learning_rate)
        # compare in float32 as Keras does, so a rate already at min_lr (up to rounding) stays put
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True
