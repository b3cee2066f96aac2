"""compile / fit / evaluate / predict: the training loop, with tf.keras's arguments and results.

One training step is the whole of gradient descent: forward (y = model(x)), the loss L, backward
(∂L/∂θ by autodiff), and the optimizer's update θ ← θ − α·g.
"""
from __future__ import annotations

import warnings

import numpy as np

from shendu import autograd, backend
from shendu import callbacks as callbacks_module
from shendu.data import adapter
from shendu.layers.symbolic import flatten
from shendu.tensor import Tensor


def _per_output(spec, names, what):
    """A loss/metric spec for each output: one shared value, a list in output order, or a dict by name."""
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} names {sorted(unknown)} that are not outputs of the model; the "
                             f"outputs are {names}.")
        return [spec.get(n) for n in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1 and (what == "loss" or all(
            isinstance(s, (list, tuple)) or s is None for s in spec)):
        if len(spec) != len(names):
            raise ValueError(f"compile: the model has {len(names)} outputs {names} but {len(spec)} {what} "
                             f"entries were given.")
        return list(spec)
    return [spec] * len(names)


class Trainer:
    """The training half of ``Model``: compile, fit, evaluate, predict and their ``*_on_batch`` forms."""

    _compiled = False

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True, **kwargs):
        """Choose the optimizer, loss and metrics. Snapshots the trainable weights (tf.keras's rule:
        changing ``trainable`` later takes effect at the next ``compile``)."""
        from shendu import optimizers as optimizers_module
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}.")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        names = self._output_names()
        self._loss_fns = [_as_loss(l) for l in _per_output(loss, names, "loss")]
        if loss_weights is None:
            self._loss_weights = [1.0] * len(names)
        elif isinstance(loss_weights, dict):
            self._loss_weights = [float(loss_weights.get(n, 1.0)) for n in names]
        else:
            self._loss_weights = [float(w) for w in (loss_weights if isinstance(loss_weights, (list, tuple))
                                                     else [loss_weights])]
        self._metric_specs = _per_output(metrics, names, "metrics")
        self._weighted_specs = _per_output(weighted_metrics, names, "weighted_metrics")
        self._metrics_built = False
        self._compiled = True
        self._trainable_snapshot = self._snapshot() if self.built else None
        self.stop_training = False

    def _output_names(self):
        outputs = getattr(self, "outputs", None)
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

    def _build_metrics(self, ys, preds):
        """Resolve metric strings once the output shapes are known ('accuracy' depends on them)."""
        from shendu import metrics as metrics_module
        names = self._output_names()
        multi = len(names) > 1
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = [metrics_module.Mean(name=f"{n}_loss") for n in names] if multi else []
        self._metric_objs = []
        for i, (spec, wspec) in enumerate(zip(self._metric_specs, self._weighted_specs)):
            for weighted, group in ((False, spec), (True, wspec)):
                for m in flatten(group) if group is not None else []:
                    if m is None:
                        continue
                    obj = metrics_module.resolve(m, ys[i].shape, preds[i].shape)
                    if multi:
                        obj.name = f"{names[i]}_{obj.name}"
                    if weighted:
                        obj.name = f"weighted_{obj.name}" if not obj.name.startswith("weighted_") else obj.name
                    self._metric_objs.append((i, obj, weighted))
        self._metrics_built = True

    @property
    def metrics_names(self):
        if not self._compiled:
            return []
        names = ["loss"] + [t.name for t in getattr(self, "_output_loss_trackers", [])]
        return names + [m.name for _, m, _ in getattr(self, "_metric_objs", [])]

    def reset_metrics(self):
        if getattr(self, "_metrics_built", False):
            for m in [self._loss_tracker, *self._output_loss_trackers] + [m for _, m, _ in self._metric_objs]:
                m.reset_state()

    # ------------------------------------------------------------ one step
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Σ_outputs weight · loss(y, y_pred) + the layers' regularization penalties."""
        ys, preds = flatten(y) if isinstance(y, (list, tuple)) else [y], flatten(y_pred)
        if len(ys) != len(preds):
            raise ValueError(f"The model has {len(preds)} outputs but {len(ys)} targets were given.")
        total, per_output = None, []
        for fn, weight, yt, yp in zip(self._loss_fns, self._loss_weights, ys, preds):
            if fn is None:
                per_output.append(None)
                continue
            value = fn(yt, yp, sample_weight=sample_weight)
            per_output.append(value)
            term = value * weight if weight != 1.0 else value
            total = term if total is None else total + term
        if total is None:
            raise ValueError("compile() was called without a loss; pass loss='...' to train or evaluate.")
        for penalty in self.losses:
            total = total + penalty
        return total, per_output

    def _step(self, x, y, sample_weight, training):
        y_pred = self(x, training=training)
        ys = y if isinstance(y, (list, tuple)) else [y]
        preds = flatten(y_pred)
        if not self._metrics_built:
            self._build_metrics(ys, preds)
        loss, per_output = self.compute_loss(x, y, y_pred, sample_weight, training)
        return y_pred, ys, preds, loss, per_output

    def train_step(self, x, y, sample_weight=None):
        """Forward, loss, backward, update; returns the running logs."""
        y_pred, ys, preds, loss, per_output = self._step(x, y, sample_weight, training=True)
        if self._trainable_snapshot is None:        # a model built by its first call: its weights exist now
            self._trainable_snapshot = self._snapshot()
        variables = self._trainable_snapshot
        grads = autograd.run_backward([loss], [backend.xp.ones_like(loss.data)], wanted=variables,
                                      accumulate=False) if loss.requires_grad else [None] * len(variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._update_metrics(ys, preds, loss, per_output, sample_weight)

    def test_step(self, x, y, sample_weight=None):
        with autograd.no_grad():
            y_pred, ys, preds, loss, per_output = self._step(x, y, sample_weight, training=False)
        return self._update_metrics(ys, preds, loss, per_output, sample_weight)

    def _update_metrics(self, ys, preds, loss, per_output, sample_weight):
        n = preds[0].shape[0]
        self._loss_tracker.update_state(float(loss.data), sample_weight=n)
        for tracker, value in zip(self._output_loss_trackers, per_output):
            if value is not None:
                tracker.update_state(float(value.data), sample_weight=n)
        for i, metric, weighted in self._metric_objs:
            metric.update_state(ys[i], preds[i].data, sample_weight=sample_weight if weighted else None)
        return self._logs()

    def _logs(self):
        logs = {}
        trackers = [self._loss_tracker, *self._output_loss_trackers] + [m for _, m, _ in self._metric_objs]
        for m in trackers:
            logs[m.name] = float(np.asarray(m.result()))
        return dict(sorted(logs.items()))          # Keras 3 reports the logs in name order

    # ------------------------------------------------------------ loops
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1,
            max_queue_size=10, workers=1, use_multiprocessing=False):
        """Train for ``epochs`` passes over the data; returns a ``History`` whose ``.history`` holds the logs.
        (``max_queue_size``, ``workers``, ``use_multiprocessing``: tf.keras 2's loader options, accepted and
        unused: shendu reads the batches in the training thread.)"""
        self._require_compiled("fit")
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
            if y is None and self._loss_fns[0] is not None:
                raise ValueError("fit() got x but no y: pass the targets, fit(x, y, ...).")
            sample_weight = _with_class_weight(y, sample_weight, class_weight)
            data = adapter.ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle=shuffle, rng=backend.rng,
                                        who="fit")
        else:
            data = adapter.IterableBatches(x, steps_per_epoch, who="fit")
        steps = steps_per_epoch or len(data)
        history = callbacks_module.History()
        verbose = 1 if verbose == "auto" else verbose
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cbs.append(history)
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
            for step, (bx, by, bw) in enumerate(data):
                cb.on_train_batch_begin(step)
                logs = self.train_step(bx, by, bw)
                seen += 1
                cb.on_train_batch_end(step, logs)
                if self.stop_training or (steps_per_epoch and seen >= steps_per_epoch):
                    break
            if seen == 0:
                raise ValueError("fit: the data produced no batches; check that the dataset or generator is not empty.")
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_batches(
                    self._validation_batches(val, validation_batch_size or batch_size or 32, validation_steps), None)
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
        for step, (bx, by, bw) in enumerate(batches):
            if callback_list:
                callback_list.on_test_batch_begin(step)
            logs = self.test_step(bx, by, bw)
            if callback_list:
                callback_list.on_test_batch_end(step, logs)
        if callback_list:
            callback_list.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, max_queue_size=10, workers=1, use_multiprocessing=False):
        """The loss (and metrics) on the given data: a scalar, ``[loss, *metrics]`` or a dict."""
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else verbose
        batches = adapter.ArrayBatches(x, y, sample_weight, batch_size or 32, who="evaluate") \
            if adapter.is_array_data(x) else adapter.IterableBatches(x, steps, who="evaluate")
        cbs = list(callbacks or []) + ([callbacks_module.ProgbarLogger(verbose)] if verbose else [])
        cb = callbacks_module.CallbackList(cbs, model=self, steps=len(batches) if steps is None else steps,
                                           verbose=verbose, mode="evaluate")
        logs = self._evaluate_batches(batches, cb)
        return self._format_result(logs, return_dict)

    def _format_result(self, logs, return_dict):
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[n] for n in self.metrics_names[1:]]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, max_queue_size=10, workers=1,
                use_multiprocessing=False):
        """Outputs for every sample, as NumPy arrays, computed in inference mode in batches."""
        if adapter.is_array_data(x):
            batches = adapter.ArrayBatches(x, None, None, batch_size or 32, who="predict")
        else:
            batches = adapter.IterableBatches(x if not isinstance(x, tuple) else x[0], steps, who="predict")
        outputs = []
        with autograd.no_grad():
            for bx, _, _ in batches:
                backend.fit_threads_to_load()
                outputs.append([o.numpy() for o in flatten(self(bx, training=False))])
        if not outputs:
            raise ValueError("predict: the input has no samples.")
        joined = [np.concatenate(parts) for parts in zip(*outputs)]
        return joined[0] if len(joined) == 1 else joined

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
        """One gradient step on one batch; returns that batch's loss (and metrics)."""
        self._require_compiled("train_on_batch")
        self.reset_metrics()
        sample_weight = _with_class_weight(y, sample_weight, class_weight)
        logs = self.train_step(_array_or_list(x), _array_or_list(y), sample_weight)
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        self.reset_metrics()
        logs = self.test_step(_array_or_list(x), _array_or_list(y), sample_weight)
        return self._format_result(logs, return_dict)

    def predict_on_batch(self, x):
        with autograd.no_grad():
            out = [o.numpy() for o in flatten(self(_array_or_list(x), training=False))]
        return out[0] if len(out) == 1 else out


def _array_or_list(x):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)):
        return [np.asarray(v) if not isinstance(v, Tensor) else v for v in x]
    return np.asarray(x) if x is not None else None


def _with_class_weight(y, sample_weight, class_weight):
    """class_weight {class: weight} becomes a per-sample weight from each sample's label."""
    if not class_weight:
        return sample_weight
    y = np.asarray(y)
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].astype(int)
    weights = np.array([class_weight.get(int(c), 1.0) for c in labels], dtype="float32")
    return weights if sample_weight is None else weights * np.asarray(sample_weight)


def _as_loss(identifier):
    """A Loss object for one output: names and plain functions fn(y_true, y_pred) are wrapped so that
    sample weights and the batch reduction are applied once, the same way for every loss."""
    from shendu import losses as losses_module
    if identifier is None:
        return None
    loss = losses_module.get(identifier)
    if isinstance(loss, losses_module.Loss):
        return loss
    return losses_module.LossFunctionWrapper(loss, name=getattr(loss, "__name__", None))
