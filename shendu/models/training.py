"""compile / fit / evaluate / predict: the training loop, with tf.keras's arguments and results.

One training step is the whole of gradient descent: forward (y = model(x)), the loss L, backward
(∂L/∂θ by autodiff), and the optimizer's update θ ← θ − α·g.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from shendu import autograd, backend
from shendu import callbacks as callbacks_module
from shendu import metrics as metrics_module
from shendu import optimizers as optimizers_module
from shendu.data import adapter
from shendu.distribute import hooks as distribute
from shendu.layers.base import rows_of_numbers
from shendu.layers.tracking import metric_owners
from shendu.layers.symbolic import flatten, map_structure
from shendu.models.compile_utils import (CompiledLoss, CompiledMetrics, batch_size_of, pack_x_y_sample_weight,
                                         to_tensors, unpack_x_y_sample_weight)
from shendu.tensor import Tensor


class Trainer:
    """The training half of ``Model``: compile, the step functions, fit, evaluate, predict, ``*_on_batch``.

    ``fit`` calls ``self.train_step(data)`` once per batch, ``evaluate`` calls ``test_step(data)`` and
    ``predict`` calls ``predict_step(data)``, where ``data`` is the batch as the user's data gave it
    (``x``, ``(x, y)`` or ``(x, y, sample_weight)``, as Tensors). A subclass may override any of them; the
    dict a step returns becomes the logs (plain floats) that callbacks, the progress bar and History see.
    """

    _compiled = False
    optimizer = None
    compiled_loss = None
    compiled_metrics = None
    _loss_tracker = None

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **kwargs):
        """Choose the optimizer, loss and metrics. Snapshots the trainable weights (tf.keras's rule:
        changing ``trainable`` later takes effect at the next ``compile``). ``loss`` may be left out when the
        model adds its own losses (``add_loss``) or its ``train_step`` computes them."""
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}. A Model subclass that "
                            "takes its own compile arguments overrides compile(), keeps them, and calls "
                            "super().compile(...) with Keras's arguments only.")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        names = self._output_names()
        # compile's own trackers are set past Layer.__setattr__ so they are not counted as attribute metrics
        object.__setattr__(self, "_loss_tracker", metrics_module.Mean(name="loss"))
        object.__setattr__(self, "compiled_loss", CompiledLoss(loss, loss_weights, names, self._loss_tracker))
        object.__setattr__(self, "compiled_metrics", CompiledMetrics(metrics, weighted_metrics, names))
        self._loss_weights = self.compiled_loss.loss_weights          # what saving writes to compile_config
        self._metric_specs = self.compiled_metrics._specs
        self._weighted_specs = self.compiled_metrics._weighted_specs
        self._compiled = True
        self._trainable_snapshot = self._snapshot() if self.built else None
        self.stop_training = False
        distribute.on_compile(self)         # inside strategy.scope(): data-parallel over the workers

    @property
    def compiled(self) -> bool:
        return self._compiled

    def _output_names(self):
        outputs = self.__dict__.get("outputs")          # a functional model's named outputs
        if outputs and len(outputs) > 1:
            return self.output_names
        return [None]

    def _snapshot(self):
        return list(self.trainable_weights)

    def _require_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(f"You must call compile(optimizer, loss, metrics) before {what}(); for example "
                               f"model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
                               f"metrics=['accuracy']).")

    # ------------------------------------------------------------ metrics
    @property
    def metrics(self):
        """Keras 3's list: the 'loss' tracker, compile's metrics (one 'compile_metrics' entry), the per-output
        loss trackers, then every Metric the model and its layers own (attributes and ``add_metric``);
        layers that are models themselves keep theirs."""
        out = []
        if self._compiled:
            out.append(self._loss_tracker)
            if self.compiled_metrics.has_metrics:
                out.append(self.compiled_metrics)
            out.extend(self.compiled_loss.metrics)
        if not metric_owners:
            return out                      # no layer anywhere owns a metric: nothing to walk
        seen = {id(m) for m in out}
        owners = [self] + [layer for layer in self._flat_layers() if not isinstance(layer, Trainer)]
        for layer in owners:
            for m in layer.__dict__.get("_metrics", ()):
                if id(m) not in seen:
                    seen.add(id(m))
                    out.append(m)
        return out

    @property
    def metrics_names(self):
        """The logged names as tf.keras 2 lists them: 'loss', each output's loss, compile's metrics one by one,
        then the other metrics."""
        metrics = self.metrics
        compiled = [sub.name for m in metrics if isinstance(m, CompiledMetrics) for sub in m.metrics]
        losses = [m.name for m in metrics if m is self._loss_tracker or
                  (self._compiled and any(m is t for t in self.compiled_loss.metrics))]
        rest = [m.name for m in metrics if not isinstance(m, CompiledMetrics) and m.name not in losses]
        return losses + compiled + rest

    @property
    def _metric_objs(self):
        """(output index, metric, weighted) for each metric compile() resolved (callbacks read their direction)."""
        return list(self.compiled_metrics._entries) if self._compiled else []

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict:
        """Each metric's current value by name; a metric whose result is a dict adds its entries."""
        out = {}
        with distribute.summed_metrics(self):       # data-parallel: the workers' states summed
            for metric in self.metrics:
                result = metric.result()
                if isinstance(result, dict):
                    out.update(result)
                else:
                    out[metric.name] = result
        return out

    # ------------------------------------------------------------ one step
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss: Σ_outputs weight · loss(y, y_pred) from compile, plus ``self.losses`` (add_loss
        values and regularization penalties)."""
        losses = []
        if self._compiled:
            compiled = self.compiled_loss.compute(y, y_pred, sample_weight)
            if compiled is not None:
                losses.append(compiled)
        losses += [value if value.ndim == 0 else value.sum() for value in self.losses]
        if not losses:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`, or add losses in the "
                             "model with self.add_loss(...).")
        total = losses[0]
        for value in losses[1:]:
            total = total + value
        return total

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        """Calls ``compute_loss``, also when a subclass overrides it without the ``training`` argument."""
        if _takes_training(type(self).compute_loss):
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update compile's metrics and return every metric's value (the step's logs)."""
        if self._compiled:
            self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        """Forward, loss, backward (∂L/∂θ), optimizer update; returns the metrics' running values."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=True)
        self._loss_tracker.update_state(float(loss.data), sample_weight=batch_size_of(x))
        if self._trainable_snapshot is None:        # a model built by its first call: its weights exist now
            self._trainable_snapshot = self._snapshot()
        variables = self._trainable_snapshot
        if not variables:
            warnings.warn(f"Model '{self.name}' has no trainable weights; fit() only computes the loss and metrics.",
                          stacklevel=3)
        grads = autograd.run_backward([loss], [backend.xp.ones_like(loss.data)], wanted=variables,
                                      accumulate=False) if loss.requires_grad else [None] * len(variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        """Forward in inference mode, the loss and the metrics; no update."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with autograd.no_grad():
            y_pred = self(x, training=False)
            loss = self._compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(float(loss.data), sample_weight=batch_size_of(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch, in inference mode."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _get_metrics_result_or_logs(self, logs):
        """The metrics' values when the step reported exactly them, else the step's own logs (custom steps)."""
        metric_logs = pythonify_logs(self.get_metrics_result())
        return metric_logs if set(logs) == set(metric_logs) else logs

    def _flatten_metrics_in_order(self, logs):
        """``logs`` as the list evaluate() returns, in Keras 3's order: the metrics in ``self.metrics`` order
        (compile's one by one, by their own names), then the remaining keys by name (with several outputs,
        compile's metrics carry the output's name and so come here)."""
        names = []
        for m in self.metrics:
            names += [sub.name for sub in m.metrics] if isinstance(m, CompiledMetrics) else [m.name]
        if len(self._output_names()) > 1:
            names = [n for n in names if n not in self.compiled_metrics.result()]
        values = [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------ loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False):
        """Train for ``epochs`` passes over the data; returns a ``History`` whose ``.history`` holds the logs.
        (``workers``, ``max_queue_size``: tf.keras 2's loader options; a PyDataset is read ahead in that many
        threads; ``use_multiprocessing`` is accepted and also uses threads.)"""
        self._require_compiled("fit")
        _check_counts("fit", epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                      validation_steps=validation_steps, validation_freq=validation_freq)
        if x is None:
            raise ValueError("fit() needs training data: fit(x, y, ...) or fit(generator).")
        val = None
        if validation_data is not None:      # (x, y), (x, y, sample_weight), or a generator / Sequence
            val = tuple(validation_data) if isinstance(validation_data, (list, tuple)) else validation_data
        elif validation_split:
            if not adapter.is_array_data(x):
                raise ValueError("validation_split works only with array data; pass validation_data for generators.")
            (x, y, sample_weight), val = adapter.split_validation(x, y, sample_weight, validation_split)
        if adapter.is_array_data(x):
            if y is None and self.compiled_loss.has_loss and not self._overrides("train_step"):
                raise ValueError("fit() got x but no y: pass the targets, fit(x, y, ...).")
            sample_weight = _with_class_weight(y, sample_weight, class_weight)
            data = adapter.ArrayBatches(x, y, sample_weight, _batch_size(batch_size), shuffle=shuffle,
                                        rng=backend.rng, who="fit")
            adapter.warn_non_finite(data, "fit")
        else:
            data = adapter.IterableBatches(x, steps_per_epoch, who="fit", batch_size=batch_size, y=y,
                                           sample_weight=sample_weight, shuffle=shuffle, class_weight=class_weight,
                                           workers=workers, max_queue_size=max_queue_size)
        steps = steps_per_epoch or data.num_batches
        history = callbacks_module.History()
        verbose = 1 if verbose == "auto" else verbose
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cbs.append(history)
        cbs = distribute.on_fit_begin(self, cbs)
        cb = callbacks_module.CallbackList(cbs, model=self, epochs=epochs, steps=steps, verbose=verbose)
        self.history = history
        self.stop_training = False
        cb.on_train_begin()
        # BackupAndRestore sets _initial_epoch when it reloads an interrupted run
        initial_epoch = getattr(self, "_initial_epoch", None) or initial_epoch
        self._initial_epoch = None
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cb.on_epoch_begin(epoch)
            logs, seen = {}, 0
            for step, (bx, by, bw) in enumerate(distribute.shard(self, data)):
                cb.on_train_batch_begin(step)
                logs = pythonify_logs(self.train_step(_step_data(bx, by, bw)))
                seen += 1
                cb.on_train_batch_end(step, logs)
                if self.stop_training or (steps_per_epoch and seen >= steps_per_epoch):
                    break
            if seen == 0:
                raise ValueError("fit: the data produced no batches; check that the dataset or generator is not empty.")
            epoch_logs = dict(self._get_metrics_result_or_logs(logs))
            if val is not None and (epoch + 1) % validation_freq == 0:
                # the validation run calls the test hooks of fit's callbacks, as Keras's evaluate inside fit does
                val_size = _batch_size(batch_size if validation_batch_size is None else validation_batch_size)
                val_logs = self._evaluate_batches(self._validation_batches(val, val_size, validation_steps), cb)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cb.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cb.on_train_end(epoch_logs)
        return history

    @staticmethod
    def _validation_batches(data, batch_size, steps):
        """Batches of validation data: an (x, y[, sample_weight]) tuple of arrays, or a generator / Sequence."""
        if isinstance(data, tuple) and adapter.is_array_data(data[0]):
            x, y, sw = (data + (None,))[:3]
            return adapter.ArrayBatches(x, y, sw, batch_size, who="validation")
        return adapter.IterableBatches(data[0] if isinstance(data, tuple) else data, steps, who="validation")

    def _evaluate_batches(self, batches, callback_list):
        self.reset_metrics()
        logs = {}
        if callback_list:
            callback_list.on_test_begin()
        for step, (bx, by, bw) in enumerate(distribute.shard(self, batches)):
            if callback_list:
                callback_list.on_test_batch_begin(step)
            logs = pythonify_logs(self.test_step(_step_data(bx, by, bw)))
            if callback_list:
                callback_list.on_test_batch_end(step, logs)
        logs = self._get_metrics_result_or_logs(logs)
        if callback_list:
            callback_list.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, max_queue_size=10, workers=1, use_multiprocessing=False):
        """The loss (and metrics) on the given data: a scalar, ``[loss, *metrics]`` or a dict."""
        self._require_compiled("evaluate")
        _check_counts("evaluate", steps=steps)
        verbose = 1 if verbose == "auto" else verbose
        batches = adapter.ArrayBatches(x, y, sample_weight, _batch_size(batch_size), who="evaluate") \
            if adapter.is_array_data(x) else adapter.IterableBatches(x, steps, "evaluate", batch_size, y, sample_weight)
        cbs = list(callbacks or []) + ([callbacks_module.ProgbarLogger(verbose)] if verbose else [])
        cb = callbacks_module.CallbackList(distribute.worker_callbacks(self, cbs), model=self,
                                           steps=batches.num_batches if steps is None else steps,
                                           verbose=verbose, mode="evaluate")
        logs = self._evaluate_batches(batches, cb)
        return self._format_result(logs, return_dict)

    def _format_result(self, logs, return_dict):
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, max_queue_size=10, workers=1,
                use_multiprocessing=False):
        """Outputs for every sample, as NumPy arrays shaped like the model's outputs (an array, a list or a
        dict), computed batch by batch with ``predict_step`` in inference mode."""
        _check_counts("predict", steps=steps)
        if adapter.is_array_data(x):
            batches = adapter.ArrayBatches(x, None, None, _batch_size(batch_size), who="predict")
        else:
            batches = adapter.IterableBatches(x if not isinstance(x, tuple) else x[0], steps, "predict", batch_size)
        verbose = 1 if verbose == "auto" else verbose
        cbs = list(callbacks or []) + ([callbacks_module.ProgbarLogger(verbose)] if verbose else [])
        cb = callbacks_module.CallbackList(distribute.worker_callbacks(self, cbs), model=self,
                                           steps=batches.num_batches if steps is None else steps,
                                           verbose=verbose, mode="predict")
        cb.on_predict_begin()
        structure, parts = None, []
        for step, (bx, _, _) in enumerate(distribute.shard(self, batches)):
            cb.on_predict_batch_begin(step)
            backend.fit_threads_to_load()
            with autograd.no_grad():
                out = map_structure(_to_numpy, self.predict_step(_step_data(bx, None, None)))
            structure = out if structure is None else structure
            parts.append(flatten(out))
            cb.on_predict_batch_end(step, {"outputs": out})
        cb.on_predict_end()
        parts = distribute.gather_predictions(self, parts)
        if not parts:
            raise ValueError("predict: the input has no samples.")
        joined = iter([np.concatenate(columns) for columns in zip(*parts)])
        return map_structure(lambda _: next(joined), structure)

    # tf.keras 2's generator spellings (Keras 3 removed them): fit, evaluate and predict take generators
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, validation_freq=1, class_weight=None,
                      max_queue_size=10, workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0):
        warnings.warn("`fit_generator` is the tf.keras 2 spelling; `fit` takes generators.", DeprecationWarning,
                      stacklevel=2)
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=verbose,
                        callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                        validation_freq=validation_freq, class_weight=class_weight, shuffle=shuffle,
                        initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0):
        warnings.warn("`evaluate_generator` is the tf.keras 2 spelling; `evaluate` takes generators.",
                      DeprecationWarning, stacklevel=2)
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        warnings.warn("`predict_generator` is the tf.keras 2 spelling; `predict` takes generators.",
                      DeprecationWarning, stacklevel=2)
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One ``train_step`` on one batch; returns that batch's loss (and metrics)."""
        self._require_compiled("train_on_batch")
        self.reset_metrics()
        sample_weight = _with_class_weight(y, sample_weight, class_weight)
        logs = pythonify_logs(self.train_step(_step_data(x, y, sample_weight)))
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One ``test_step`` on one batch; returns its loss (and metrics)."""
        self._require_compiled("test_on_batch")
        self.reset_metrics()
        logs = pythonify_logs(self.test_step(_step_data(x, y, sample_weight)))
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
        with autograd.no_grad():
            out = map_structure(_to_numpy, self.predict_step(_step_data(x, None, None)))
        return out

    def _overrides(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(Trainer, method)


_TAKES_TRAINING: dict = {}


def _batch_size(batch_size):
    """Keras's default of 32 when none is given; 0 or a negative size is refused by the batcher, never replaced."""
    return 32 if batch_size is None else batch_size


_COUNTS = {"epochs": "passes over the data", "initial_epoch": "the epoch to start from",
           "steps_per_epoch": "batches per epoch", "validation_steps": "validation batches per evaluation",
           "validation_freq": "validate every that many epochs", "steps": "batches to run"}


def _check_counts(who, **counts):
    """Counts are whole numbers, checked here rather than replaced by a default or ignored; None leaves a
    step count to the data."""
    for arg, value in counts.items():
        low = 0 if arg in ("epochs", "initial_epoch") else 1
        if value is None and low == 1:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            whole = isinstance(value, (float, np.floating)) and value >= low
            example = max(int(value), 1) if whole else 10 if arg == "epochs" else 1
            raise ValueError(f"{who}: {arg} must be a {'non-negative' if low == 0 else 'positive'} integer "
                             f"({_COUNTS[arg]}), got {value!r}; pass a whole number, e.g. {arg}={example}.")


def _takes_training(fn) -> bool:
    """Whether a compute_loss accepts ``training`` (Keras 3.3 added it); read once per function."""
    known = _TAKES_TRAINING.get(fn)
    if known is None:
        params = inspect.signature(fn).parameters
        known = _TAKES_TRAINING[fn] = "training" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())
    return known


def _step_data(x, y, sample_weight):
    """One batch as the step functions receive it: ``x``, ``(x, y)`` or ``(x, y, sample_weight)`` of Tensors."""
    x, y = rows_of_numbers(x, "The model"), rows_of_numbers(y, "The loss (as y)")   # Python lists from *_on_batch
    return pack_x_y_sample_weight(to_tensors(x), to_tensors(y), to_tensors(sample_weight))


def _to_numpy(value):
    return value.numpy() if isinstance(value, Tensor) else backend.to_numpy(value) if hasattr(value, "shape") \
        else np.asarray(value)


def pythonify_logs(logs) -> dict:
    """A step's returned dict as logs: nested dicts flattened, values as Python floats where they are
    scalars (Tensors, arrays, metric results), keys in name order as Keras 3 reports them."""
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise TypeError(f"A train_step/test_step must return a dict of metric values (e.g. {{'loss': loss}}), got "
                        f"{type(logs).__name__}.")
    out = {}
    for key, value in sorted(logs.items()):
        if type(value) is float:            # a metric's result, the common case
            out[key] = value
            continue
        if isinstance(value, dict):
            out.update(pythonify_logs(value))
            continue
        array = _to_numpy(value) if value is not None else None
        out[key] = float(array.reshape(())) if array is not None and array.size == 1 and \
            array.dtype.kind in "fiub" else value
    return out


def _with_class_weight(y, sample_weight, class_weight):
    """class_weight {class: weight} becomes a per-sample weight from each sample's label."""
    if not class_weight:
        return sample_weight
    y = np.asarray(y)
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].astype(int)
    weights = np.array([class_weight.get(int(c), 1.0) for c in labels], dtype="float32")
    return weights if sample_weight is None else weights * np.asarray(sample_weight)
