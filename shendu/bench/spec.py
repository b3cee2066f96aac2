"""The workloads every framework runs: sizes, data, initial weights (tf.keras layouts) and FLOP counts.

Imports only NumPy, so a framework's worker process loads nothing of another framework. Every
framework gets the same data and, through ``initial_weights``, the same starting weights: the
arrays are made here in tf.keras's layouts, and each worker converts them to its own layout.
"""
from __future__ import annotations

import numpy as np

# name -> what the row of the table says
WORKLOADS = {
    "mlp": "MLP 784-256-128-10, batch 128",
    "cnn": "tutorial CNN, batch 64",
    "lstm": "Embedding(10000,64)-LSTM(64)-Dense, T=100, batch 64",
    "bilstm": "Embedding(10000,64)-Bidirectional(LSTM(64))-Dense, T=100, batch 64",
    "dcgan": "DCGAN step (one D and one G update), batch 64",
    "bigconv": "Conv2D(1, 7, same) on 28x28x128, batch 128",
    "predict": "tutorial CNN predict, batch 256",
}
# the kind of step: "train" (forward, backward, Adam), "gan" (two of those) or "predict" (forward only)
KIND = {"dcgan": "gan", "predict": "predict"}
LATENT = 100        # the DCGAN generator's noise size


def sizes(workload: str, smoke: bool) -> dict:
    """Batch and sequence sizes: the real ones, or tiny ones (``smoke``) that only check the code runs."""
    full = {"mlp": dict(batch=128), "cnn": dict(batch=64), "lstm": dict(batch=64, time=100),
            "bilstm": dict(batch=64, time=100), "dcgan": dict(batch=64),
            "bigconv": dict(batch=128, channels=128), "predict": dict(batch=256)}[workload]
    if smoke:
        full = {**full, "batch": 4}
        full.update({k: v for k, v in (("time", 8), ("channels", 8)) if k in full})
    return full


def data(workload: str, smoke: bool, seed: int = 0):
    """(x, y) NumPy arrays, channels-last images; y holds class labels, images or None (the GAN)."""
    rng = np.random.default_rng(seed)
    s = sizes(workload, smoke)
    b = s["batch"]
    if workload == "mlp":
        return rng.random((b, 784), dtype=np.float32), rng.integers(0, 10, b)
    if workload in ("cnn", "predict"):
        return rng.random((b, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, b)
    if workload in ("lstm", "bilstm"):
        return rng.integers(1, 10000, (b, s["time"])), rng.integers(0, 10, b)
    if workload == "bigconv":
        return (rng.standard_normal((b, 28, 28, s["channels"]), dtype=np.float32),
                rng.standard_normal((b, 28, 28, 1), dtype=np.float32))
    if workload == "dcgan":    # real images in [-1, 1] (the generator ends in tanh) and fixed noise
        return (rng.random((b, 28, 28, 1), dtype=np.float32) * 2 - 1,
                rng.standard_normal((b, LATENT), dtype=np.float32))
    raise ValueError(f"unknown workload {workload!r}; expected one of {sorted(WORKLOADS)}")


def _glorot(rng, shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _dense(rng, n_in, n_out):
    return [_glorot(rng, (n_in, n_out), n_in, n_out), np.zeros(n_out, np.float32)]


def _conv(rng, k, c_in, c_out, transpose=False):
    """A Conv2D kernel (k, k, in, out), or a Conv2DTranspose one (k, k, out, in), and its bias."""
    shape = (k, k, c_out, c_in) if transpose else (k, k, c_in, c_out)
    return [_glorot(rng, shape, k * k * c_in, k * k * c_out), np.zeros(c_out, np.float32)]


def _lstm(rng, n_in, units):
    return [_glorot(rng, (n_in, 4 * units), n_in, 4 * units), _glorot(rng, (units, 4 * units), units, 4 * units),
            np.zeros(4 * units, np.float32)]


def initial_weights(workload: str, smoke: bool, seed: int = 1) -> dict:
    """The starting weights, tf.keras's ``get_weights()`` order and layouts, per model ("model", or "G" and "D")."""
    rng = np.random.default_rng(seed)
    s = sizes(workload, smoke)
    if workload == "mlp":
        return {"model": _dense(rng, 784, 256) + _dense(rng, 256, 128) + _dense(rng, 128, 10)}
    if workload in ("cnn", "predict"):
        return {"model": _conv(rng, 3, 1, 32) + _conv(rng, 3, 32, 64) + _dense(rng, 1600, 128) + _dense(rng, 128, 10)}
    if workload in ("lstm", "bilstm"):
        emb = [rng.uniform(-0.05, 0.05, (10000, 64)).astype(np.float32)]
        rnn = _lstm(rng, 64, 64) + (_lstm(rng, 64, 64) if workload == "bilstm" else [])
        return {"model": emb + rnn + _dense(rng, 128 if workload == "bilstm" else 64, 10)}
    if workload == "bigconv":
        return {"model": _conv(rng, 7, s["channels"], 1)}
    if workload == "dcgan":
        return {"G": _dense(rng, LATENT, 7 * 7 * 128) + _conv(rng, 4, 128, 64, True) + _conv(rng, 4, 64, 1, True),
                "D": _conv(rng, 4, 1, 64) + _conv(rng, 4, 64, 128) + _dense(rng, 7 * 7 * 128, 1)}
    raise ValueError(f"unknown workload {workload!r}")


def flops(workload: str, smoke: bool) -> float:
    """Floating-point operations of one step: 2 per multiply-add of the convolutions, matmuls and
    recurrent matmuls (elementwise work is not counted); a training step counts 3 forward passes
    (forward, input gradient, weight gradient)."""
    s = sizes(workload, smoke)
    b = s["batch"]

    def conv(h, w, k, c_in, c_out):      # h, w: the output size
        return 2 * b * h * w * k * k * c_in * c_out

    if workload == "mlp":
        return 3 * 2 * b * (784 * 256 + 256 * 128 + 128 * 10)
    if workload in ("cnn", "predict"):
        fwd = conv(26, 26, 3, 1, 32) + conv(11, 11, 3, 32, 64) + 2 * b * (1600 * 128 + 128 * 10)
        return fwd if workload == "predict" else 3 * fwd
    if workload in ("lstm", "bilstm"):
        fwd = 2 * b * s["time"] * (64 * 256 + 64 * 256) * (2 if workload == "bilstm" else 1)
        return 3 * fwd
    if workload == "bigconv":
        return 3 * conv(28, 28, 7, s["channels"], 1)
    if workload == "dcgan":
        g = 2 * b * LATENT * 7 * 7 * 128 + conv(7, 7, 4, 128, 64) + conv(14, 14, 4, 64, 1)
        d = conv(14, 14, 4, 1, 64) + conv(7, 7, 4, 64, 128) + 2 * b * 7 * 7 * 128
        # D update: G forward, D forward + backward on real and fake; G update: G and D forward + backward
        return g + 2 * 3 * d + 3 * g + 3 * d
    raise ValueError(f"unknown workload {workload!r}")
