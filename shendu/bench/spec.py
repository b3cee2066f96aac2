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
    # the layers a learner meets next, each once a cliff (3.4x, 1.9x, 1.6x, 1.4x, 2.7x against PyTorch)
    "bncnn": "Conv2D-BatchNormalization-ReLU CNN, batch 64",
    "sepconv": "SeparableConv2D-DepthwiseConv2D on 32x32x16, batch 64",
    "transformer": "Transformer block (MultiHeadAttention 4x32, LayerNorm, FFN 256) on 64x128, batch 64",
    "textcnn": "Embedding(10000,64)-Conv1D(128,5)-GlobalMaxPooling1D, T=200, batch 64",
    "lstmseq": "Embedding(5000,64)-LSTM(128, return_sequences)-TimeDistributed(Dense(64)), T=50, batch 64",
}
# the kind of step: "train" (forward, backward, Adam), "gan" (two of those) or "predict" (forward only)
KIND = {"dcgan": "gan", "predict": "predict"}
LATENT = 100        # the DCGAN generator's noise size


def sizes(workload: str, smoke: bool) -> dict:
    """Batch and sequence sizes: the real ones, or tiny ones (``smoke``) that only check the code runs."""
    full = {"mlp": dict(batch=128), "cnn": dict(batch=64), "lstm": dict(batch=64, time=100),
            "bilstm": dict(batch=64, time=100), "dcgan": dict(batch=64),
            "bigconv": dict(batch=128, channels=128), "predict": dict(batch=256), "bncnn": dict(batch=64),
            "sepconv": dict(batch=64), "transformer": dict(batch=64, time=64), "textcnn": dict(batch=64, time=200),
            "lstmseq": dict(batch=64, time=50)}[workload]
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
    if workload in ("lstm", "bilstm", "textcnn", "lstmseq"):
        vocab = 5000 if workload == "lstmseq" else 10000
        return rng.integers(1, vocab, (b, s["time"])), rng.integers(0, 10, b)
    if workload == "bncnn":
        return rng.random((b, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, b)
    if workload == "sepconv":
        return rng.standard_normal((b, 32, 32, 16), dtype=np.float32), rng.integers(0, 10, b)
    if workload == "transformer":
        return rng.standard_normal((b, s["time"], 128), dtype=np.float32), rng.integers(0, 10, b)
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


def _norm(c):
    """BatchNormalization's γ, β, moving mean and variance (LayerNormalization takes the first two)."""
    return [np.ones(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32), np.ones(c, np.float32)]


def _attention(rng, d, heads, key_dim):
    """MultiHeadAttention's query, key, value kernels (d, heads, key_dim) and biases, then the output's."""
    qkv = []
    for _ in range(3):
        qkv += [_glorot(rng, (d, heads, key_dim), d, heads * key_dim), np.zeros((heads, key_dim), np.float32)]
    return qkv + [_glorot(rng, (heads, key_dim, d), heads * key_dim, d), np.zeros(d, np.float32)]


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
    if workload == "bncnn":
        return {"model": _conv(rng, 3, 1, 32) + _norm(32) + _conv(rng, 3, 32, 64) + _norm(64) + _dense(rng, 1600, 10)}
    if workload == "sepconv":
        return {"model": [_glorot(rng, (3, 3, 16, 1), 9, 9), _glorot(rng, (1, 1, 16, 32), 16, 32),
                          np.zeros(32, np.float32), _glorot(rng, (3, 3, 32, 1), 9, 9), np.zeros(32, np.float32)]
                + _dense(rng, 32, 10)}
    if workload == "transformer":
        return {"model": _attention(rng, 128, 4, 32) + _norm(128)[:2] + _dense(rng, 128, 256) + _dense(rng, 256, 128)
                + _norm(128)[:2] + _dense(rng, 128, 10)}
    if workload == "textcnn":
        return {"model": [rng.uniform(-0.05, 0.05, (10000, 64)).astype(np.float32),
                          _glorot(rng, (5, 64, 128), 5 * 64, 5 * 128), np.zeros(128, np.float32)] + _dense(rng, 128, 10)}
    if workload == "lstmseq":
        return {"model": [rng.uniform(-0.05, 0.05, (5000, 64)).astype(np.float32)] + _lstm(rng, 64, 128)
                + _dense(rng, 128, 64) + _dense(rng, 64, 10)}
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
    if workload == "bncnn":
        return 3 * (conv(26, 26, 3, 1, 32) + conv(11, 11, 3, 32, 64) + 2 * b * 1600 * 10)
    if workload == "sepconv":      # depthwise 3x3, pointwise 16 -> 32, depthwise 3x3
        return 3 * (conv(32, 32, 3, 1, 16) + conv(32, 32, 1, 16, 32) + conv(32, 32, 3, 1, 32) + 2 * b * 32 * 10)
    if workload == "transformer":  # q, k, v, output projections; scores and their use; the FFN
        t, d = s["time"], 128
        return 3 * (2 * b * t * (4 * d * d + 2 * d * 256) + 2 * 2 * b * t * t * d + 2 * b * d * 10)
    if workload == "textcnn":
        return 3 * (2 * b * (s["time"] - 4) * 5 * 64 * 128 + 2 * b * 128 * 10)
    if workload == "lstmseq":
        t = s["time"]
        return 3 * (2 * b * t * (64 * 512 + 128 * 512) + 2 * b * t * 128 * 64 + 2 * b * 64 * 10)
    if workload == "dcgan":
        g = 2 * b * LATENT * 7 * 7 * 128 + conv(7, 7, 4, 128, 64) + conv(14, 14, 4, 64, 1)
        d = conv(14, 14, 4, 1, 64) + conv(7, 7, 4, 64, 128) + 2 * b * 7 * 7 * 128
        # D update: G forward, D forward + backward on real and fake; G update: G and D forward + backward
        return g + 2 * 3 * d + 3 * g + 3 * d
    raise ValueError(f"unknown workload {workload!r}")
