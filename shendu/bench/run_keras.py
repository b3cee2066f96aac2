"""The workloads in Keras 3 (on JAX for the peer run; the backend comes from KERAS_BACKEND), the same
models as shendu's, from the same weights: ``train_on_batch`` steps, or ``fit`` over a few batches."""
from __future__ import annotations

import numpy as np

import run_shendu
import spec


def step(workload: str, smoke: bool, fit: bool = False):
    """One step (or, with ``fit``, a ``fit`` call over FIT_BATCHES batches); None where not written for Keras."""
    import keras

    if workload == "dcgan":       # a custom GradientTape-style loop is backend-specific in Keras 3
        return None
    if workload == "predict" and fit:   # predict is one predict() call already: the plain run measures it
        return None
    s = spec.sizes(workload, smoke)
    x, y = spec.data(workload, smoke)
    model = run_shendu.models(workload, s, keras)
    model.set_weights(spec.initial_weights(workload, smoke)["model"])
    if workload == "predict":
        return lambda: model.predict(x, batch_size=s["batch"], verbose=0)
    model.compile(optimizer="adam", loss="mse" if workload == "bigconv" else "sparse_categorical_crossentropy")
    if fit:
        xs, ys = np.concatenate([x] * FIT_BATCHES), np.concatenate([y] * FIT_BATCHES)
        return lambda: model.fit(xs, ys, batch_size=s["batch"], epochs=1, shuffle=False, verbose=0)
    return lambda: model.train_on_batch(x, y)


FIT_BATCHES = 10   # steps per fit() call: the worker divides a call's time by this
