"""The hook protocol: ``Callback``, the ``CallbackList`` that ``fit`` drives, ``History``, ``LambdaCallback``.

``fit`` calls, in order::

    on_train_begin
      on_epoch_begin(epoch)
        on_train_batch_begin(step) / on_train_batch_end(step, logs)   # once per batch
      on_epoch_end(epoch, logs)        # logs: 'loss', metrics, 'val_*'; callbacks may add keys
    on_train_end(logs)

A callback stops training by setting ``self.model.stop_training = True``.
"""
from __future__ import annotations


class Callback:
    """Base class: override any ``on_*`` hook. ``self.model`` and ``self.params`` are set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    # tf.keras 2 names: the train-batch hooks call them, so old callbacks overriding them still run
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList(Callback):
    """Calls every hook on each callback in order, the way Keras 3 does: ``logs`` always arrives as a
    dict (``{}`` when the loop has none), positionally for begin/end and epoch hooks and as ``logs=``
    for batch hooks, so ``LambdaCallback(on_epoch_begin=lambda epoch, logs: ...)`` works. The epoch
    logs dict is shared, so a key one callback adds (ReduceLROnPlateau's 'learning_rate') reaches
    the callbacks after it, History included."""

    def __init__(self, callbacks=None, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances (subclass shendu.callbacks.Callback, or use "
                                f"LambdaCallback for plain functions), got {cb!r}.")
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def set_model(self, model):
        super().set_model(model)
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

    def _call(self, hook, *args, logs=None, logs_by_name=False):
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            if logs_by_name:
                getattr(cb, hook)(*args, logs=logs)
            else:
                getattr(cb, hook)(*args, logs)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs=logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs=logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs=logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs=logs)
    def on_batch_begin(self, batch, logs=None): self._call("on_batch_begin", batch, logs=logs, logs_by_name=True)
    def on_batch_end(self, batch, logs=None): self._call("on_batch_end", batch, logs=logs, logs_by_name=True)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs, logs_by_name=True)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs, logs_by_name=True)

    def on_test_begin(self, logs=None): self._call("on_test_begin", logs=logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs, logs_by_name=True)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs, logs_by_name=True)

    def on_predict_begin(self, logs=None): self._call("on_predict_begin", logs=logs)
    def on_predict_end(self, logs=None): self._call("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs, logs_by_name=True)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs, logs_by_name=True)


class _HistoryDict(dict):
    """``history.history``; tf.keras 2 logged the rate as 'lr' where Keras 3 logs 'learning_rate', so
    ``history.history['lr']`` (the learning-rate-finder plot in tutorials) reads the same list."""

    def __missing__(self, key):
        if key == "lr" and "learning_rate" in self:
            return self["learning_rate"]
        raise KeyError(key)


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']`` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history = _HistoryDict()
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class LambdaCallback(Callback):
    """A callback built from plain functions, e.g.
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs['loss']))``.

    Args:
        on_epoch_begin, on_epoch_end: called as ``f(epoch, logs)``.
        on_train_begin, on_train_end: called as ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: called as ``f(batch, logs)``.
        **kwargs: any other hook by name, e.g. ``on_test_end=f``.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name in kwargs:
            if not (name.startswith("on_") and callable(getattr(Callback, name, None))):
                raise TypeError(f"LambdaCallback got {name}=, which is not a callback hook; hooks are named like "
                                "on_epoch_end, on_test_batch_end, on_predict_end.")
        hooks.update(kwargs)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)      # an instance attribute shadows the no-op method
