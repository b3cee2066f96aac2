"""compute_output_shape of every layer on shapes with unknown (None) axes, against Keras 3.

Each row names a layer (built by ``make(layers_module)`` in shendu and in Keras 3 alike), an input
shape with None axes (a list of shapes for layers called on several inputs), and the output shape
Keras 3 gives, written in the table and, where Keras is installed, recomputed from Keras live. For
each row shendu must give that shape three ways: ``compute_output_shape``, a symbolic call on
``Input``s, and (with the unknown axes filled in, batch 2) a real call whose output matches the rule.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import pytest

import shendu.keras as sk
from shendu.layers.symbolic import KerasTensor, is_shape

N = None


@dataclasses.dataclass
class Row:
    name: str
    make: Callable
    input_shape: object
    expected: object
    fill: int = 9              # the size given to unknown axes (batch: 2) in the real call
    dtype: str = "float32"
    keras: bool = True


ROWS = [
    # core
    Row("Dense", lambda L: L.Dense(3), (N, N, 5), (N, N, 3)),
    Row("Dense-batch", lambda L: L.Dense(3), (8, 5), (8, 3)),
    Row("Activation", lambda L: L.Activation("relu"), (N, N, 4), (N, N, 4)),
    Row("Dropout", lambda L: L.Dropout(0.5), (2, N, 3), (2, N, 3)),
    Row("Flatten", lambda L: L.Flatten(), (N, 4, 5), (N, 20)),
    Row("Flatten-unknown", lambda L: L.Flatten(), (N, N, 5), (N, N)),
    Row("Flatten-batch", lambda L: L.Flatten(), (8, 2, 3), (8, 6)),
    Row("Reshape", lambda L: L.Reshape((3, 5)), (2, N), (2, 3, 5), fill=15),
    Row("Reshape-infer", lambda L: L.Reshape((-1, 4)), (N, 6, 2), (N, 3, 4)),
    Row("Reshape-infer-unknown", lambda L: L.Reshape((-1, 5)), (N, N, 5), (N, N, 5)),
    Row("ReLU", lambda L: L.ReLU(), (N, N, 4), (N, N, 4)),
    Row("LeakyReLU", lambda L: L.LeakyReLU(), (N, 3), (N, 3)),
    Row("Softmax", lambda L: L.Softmax(), (N, N, 4), (N, N, 4)),
    Row("ELU", lambda L: L.ELU(), (N, 4), (N, 4)),
    Row("PReLU", lambda L: L.PReLU(shared_axes=[1]), (N, N, 4), (N, N, 4)),
    # merging
    Row("Add", lambda L: L.Add(), [(N, N, 4), (N, N, 4)], (N, N, 4)),
    Row("Add-partial", lambda L: L.Add(), [(N, 5, 4), (N, N, 4)], (N, N, 4), fill=5),
    Row("Subtract", lambda L: L.Subtract(), [(N, 3), (N, 3)], (N, 3)),
    Row("Multiply", lambda L: L.Multiply(), [(4, 3), (N, 3)], (4, 3)),
    Row("Average", lambda L: L.Average(), [(N, N, 2), (N, N, 2), (N, N, 2)], (N, N, 2)),
    Row("Maximum", lambda L: L.Maximum(), [(N, 6), (N, 6)], (N, 6)),
    Row("Minimum", lambda L: L.Minimum(), [(N, 6), (N, 6)], (N, 6)),
    Row("Concatenate", lambda L: L.Concatenate(), [(N, N, 3), (N, N, 5)], (N, N, 8)),
    Row("Concatenate-axis1", lambda L: L.Concatenate(axis=1), [(N, 2, 3), (N, N, 3)], (N, N, 3)),
    Row("Concatenate-axis1-known", lambda L: L.Concatenate(axis=1), [(N, 2, 3), (N, 4, 3)], (N, 6, 3)),
    Row("Dot", lambda L: L.Dot(axes=(1, 1)), [(N, 3, 4), (N, 3, 5)], (N, 4, 5)),
    Row("Dot-vectors", lambda L: L.Dot(axes=-1), [(N, 4), (N, 4)], (N, 1)),
    # normalization
    Row("BatchNormalization", lambda L: L.BatchNormalization(), (N, N, 4), (N, N, 4)),
    Row("LayerNormalization", lambda L: L.LayerNormalization(), (N, N, 4), (N, N, 4)),
    # convolution
    Row("Conv1D", lambda L: L.Conv1D(4, 5), (N, N, 3), (N, N, 4)),
    Row("Conv1D-valid", lambda L: L.Conv1D(4, 5), (N, 12, 3), (N, 8, 4)),
    Row("Conv1D-same-strided", lambda L: L.Conv1D(4, 3, strides=2, padding="same"), (N, 9, 3), (N, 5, 4)),
    Row("Conv1D-causal-dilated", lambda L: L.Conv1D(4, 3, padding="causal", dilation_rate=2), (N, 9, 3), (N, 9, 4)),
    Row("Conv1D-dilated", lambda L: L.Conv1D(2, 3, dilation_rate=2), (N, 9, 3), (N, 5, 2)),
    Row("Conv2D", lambda L: L.Conv2D(2, 3), (N, N, N, 3), (N, N, N, 2)),
    Row("Conv2D-strided", lambda L: L.Conv2D(2, 3, strides=2), (N, 10, 11, 3), (N, 4, 5, 2)),
    Row("Conv2D-same-even", lambda L: L.Conv2D(2, 4, strides=(2, 3), padding="same"), (N, 9, 10, 3), (N, 5, 4, 2)),
    Row("Conv2D-channels-first", lambda L: L.Conv2D(2, 3, data_format="channels_first"), (N, 3, 10, N), (N, 2, 8, N)),
    Row("Conv2DTranspose", lambda L: L.Conv2DTranspose(2, 3, strides=2), (N, 5, N, 3), (N, 11, N, 2)),
    Row("Conv2DTranspose-same", lambda L: L.Conv2DTranspose(2, 4, strides=2, padding="same"),
        (N, 5, 7, 3), (N, 10, 14, 2)),
    Row("Conv2DTranspose-output-padding", lambda L: L.Conv2DTranspose(2, 3, strides=2, output_padding=1),
        (N, 5, 7, 3), (N, 12, 16, 2)),
    # pooling
    Row("MaxPooling1D", lambda L: L.MaxPooling1D(2), (N, N, 3), (N, N, 3)),
    Row("MaxPooling1D-same", lambda L: L.MaxPooling1D(3, strides=2, padding="same"), (N, 7, 3), (N, 4, 3)),
    Row("AveragePooling1D", lambda L: L.AveragePooling1D(3, strides=1), (N, 7, 3), (N, 5, 3)),
    Row("MaxPooling2D", lambda L: L.MaxPooling2D((2, 2)), (N, 7, N, 3), (N, 3, N, 3)),
    Row("AveragePooling2D-same", lambda L: L.AveragePooling2D(3, strides=2, padding="same"),
        (N, 7, 8, 3), (N, 4, 4, 3)),
    Row("MaxPooling2D-channels-first", lambda L: L.MaxPooling2D(2, data_format="channels_first"),
        (N, 3, 8, 9), (N, 3, 4, 4)),
    Row("GlobalAveragePooling1D", lambda L: L.GlobalAveragePooling1D(), (N, N, 3), (N, 3)),
    Row("GlobalMaxPooling1D-keepdims", lambda L: L.GlobalMaxPooling1D(keepdims=True), (N, N, 3), (N, 1, 3)),
    Row("GlobalAveragePooling2D", lambda L: L.GlobalAveragePooling2D(), (N, N, N, 3), (N, 3)),
    Row("GlobalMaxPooling2D-channels-first", lambda L: L.GlobalMaxPooling2D(data_format="channels_first"),
        (N, 3, N, N), (N, 3)),
    # reshaping
    Row("Cropping1D", lambda L: L.Cropping1D((1, 2)), (N, N, 3), (N, N, 3)),
    Row("Cropping1D-known", lambda L: L.Cropping1D((1, 2)), (N, 7, 3), (N, 4, 3)),
    Row("Cropping2D", lambda L: L.Cropping2D(((1, 2), (0, 0))), (1, 7, N, 5), (1, 4, N, 5)),
    Row("Cropping2D-channels-first", lambda L: L.Cropping2D(((1, 1),
        (2, 0)), data_format="channels_first"), (N, 3, 6, 7), (N, 3, 4, 5)),
    Row("ZeroPadding1D", lambda L: L.ZeroPadding1D(2), (N, N, 3), (N, N, 3)),
    Row("ZeroPadding1D-known", lambda L: L.ZeroPadding1D((1, 3)), (N, 5, 3), (N, 9, 3)),
    Row("ZeroPadding2D", lambda L: L.ZeroPadding2D(((1, 2), (3, 4))), (N, 5, N, 2), (N, 8, N, 2)),
    Row("UpSampling1D", lambda L: L.UpSampling1D(3), (N, N, 2), (N, N, 2)),
    Row("UpSampling1D-known", lambda L: L.UpSampling1D(3), (N, 4, 2), (N, 12, 2)),
    Row("UpSampling2D", lambda L: L.UpSampling2D((2, 3)), (N, 4, N, 1), (N, 8, N, 1)),
    Row("Permute", lambda L: L.Permute((2, 1)), (N, N, 3), (N, 3, N)),
    Row("Permute-3d", lambda L: L.Permute((3, 1, 2)), (N, 4, N, 2), (N, 2, 4, N)),
    Row("RepeatVector", lambda L: L.RepeatVector(3), (N, 5), (N, 3, 5)),
    # embedding
    Row("Embedding", lambda L: L.Embedding(10, 4), (N, N), (N, N, 4), dtype="int32"),
    Row("Embedding-vector", lambda L: L.Embedding(10, 4), (N,), (N, 4), dtype="int32"),
    Row("Masking", lambda L: L.Masking(), (N, N, 3), (N, N, 3)),
    # recurrent
    Row("SimpleRNN", lambda L: L.SimpleRNN(3), (N, N, 5), (N, 3)),
    Row("LSTM-sequences", lambda L: L.LSTM(3, return_sequences=True), (N, N, 5), (N, N, 3)),
    Row("GRU-state", lambda L: L.GRU(3, return_state=True), (N, N, 5), [(N, 3), (N, 3)]),
    Row("LSTM-state", lambda L: L.LSTM(3, return_state=True), (4, 7, 5), [(4, 3), (4, 3), (4, 3)]),
    Row("LSTM-sequences-state", lambda L: L.LSTM(2, return_sequences=True, return_state=True),
        (N, N, 5), [(N, N, 2), (N, 2), (N, 2)]),
    Row("RNN-cell", lambda L: L.RNN(L.LSTMCell(3)), (N, N, 5), (N, 3)),
    # wrappers
    Row("Bidirectional", lambda L: L.Bidirectional(L.LSTM(3)), (N, N, 5), (N, 6)),
    Row("Bidirectional-sum", lambda L: L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
        (N, N, 5), (N, N, 3)),
    Row("Bidirectional-state", lambda L: L.Bidirectional(L.LSTM(3, return_state=True)),
        (N, N, 5), [(N, 6), (N, 3), (N, 3), (N, 3), (N, 3)]),
    Row("TimeDistributed", lambda L: L.TimeDistributed(L.Dense(3)), (N, N, 5), (N, N, 3)),
    Row("TimeDistributed-conv", lambda L: L.TimeDistributed(L.Conv2D(2, 3)), (N, 4, 8, 8, 1), (N, 4, 6, 6, 2)),
    # attention
    Row("Attention", lambda L: L.Attention(), [(N, N, 4), (N, N, 4)], (N, N, 4)),
    Row("Attention-key", lambda L: L.Attention(), [(N, 2, 4), (N, 3, 5), (N, 3, 4)], (N, 2, 5)),
    Row("AdditiveAttention", lambda L: L.AdditiveAttention(), [(N, N, 4), (N, N, 4)], (N, N, 4)),
    # regularization
    Row("SpatialDropout1D", lambda L: L.SpatialDropout1D(0.2), (N, N, 3), (N, N, 3)),
    Row("SpatialDropout2D", lambda L: L.SpatialDropout2D(0.2), (N, N, N, 3), (N, N, N, 3)),
    Row("GaussianNoise", lambda L: L.GaussianNoise(0.1), (N, N, 3), (N, N, 3)),
    Row("GaussianDropout", lambda L: L.GaussianDropout(0.1), (N, N, 3), (N, N, 3)),
    # preprocessing
    Row("Rescaling", lambda L: L.Rescaling(1 / 255), (N, N, N, 3), (N, N, N, 3)),
    Row("Normalization", lambda L: L.Normalization(mean=0.0, variance=1.0), (N, N, 3), (N, N, 3)),
    # shendu's own (keras_hub has them; Keras 3 does not)
    Row("PositionalEncoding", lambda L: L.PositionalEncoding(), (N, N, 6), (N, N, 6), keras=False),
    Row("PositionEmbedding", lambda L: L.PositionEmbedding(20), (N, N, 6), (N, N, 6), keras=False),
]


def _norm(shape):
    """Shapes as tuples, several outputs as a list (Keras returns lists or tuples of either)."""
    if is_shape(shape):
        return tuple(None if d is None else int(d) for d in shape)
    return [_norm(s) for s in shape]


def _shapes(input_shape):
    return list(input_shape) if isinstance(input_shape, list) else [input_shape]


def _filled(shape, fill, batch):
    return tuple((batch if i == 0 else fill) if d is None else d for i, d in enumerate(shape))


@pytest.fixture(scope="module")
def keras_layers():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    return keras.layers


IDS = [row.name for row in ROWS]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_compute_output_shape_keeps_unknown_axes(row):
    layer = row.make(sk.layers)
    assert _norm(layer.compute_output_shape(row.input_shape)) == _norm(row.expected)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_symbolic_call_gives_the_shape_rule(row):
    inputs = [sk.Input(batch_shape=s, dtype=row.dtype) for s in _shapes(row.input_shape)]
    out = row.make(sk.layers)(inputs if isinstance(row.input_shape, list) else inputs[0])
    got = out.shape if isinstance(out, KerasTensor) else [t.shape for t in out]
    assert _norm(got) == _norm(row.expected)


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_real_call_matches_the_shape_rule(row):
    layer = row.make(sk.layers)
    batch = next((s[0] for s in _shapes(row.input_shape) if s[0] is not None), 2)
    shapes = [_filled(s, row.fill, batch) for s in _shapes(row.input_shape)]
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 5, s).astype(row.dtype) if row.dtype.startswith("int") else
          rng.standard_normal(s).astype(row.dtype) for s in shapes]
    out = layer(xs if isinstance(row.input_shape, list) else xs[0])
    got = tuple(out.shape) if not isinstance(out, (list, tuple)) else [tuple(o.shape) for o in out]
    assert _norm(got) == _norm(layer.compute_output_shape(shapes if isinstance(row.input_shape, list) else shapes[0]))


@pytest.mark.parametrize("row", [r for r in ROWS if r.keras], ids=[r.name for r in ROWS if r.keras])
def test_table_agrees_with_keras(row, keras_layers):
    assert _norm(row.make(keras_layers).compute_output_shape(row.input_shape)) == _norm(row.expected)


# shapes no layer can produce an output for: Keras 3 raises ValueError for each, and so does shendu
IMPOSSIBLE = [
    ("Conv1D-input-shorter-than-kernel", lambda L: L.Conv1D(2, 5), (N, 3, 2), "empty output"),
    ("MaxPooling1D-input-shorter-than-pool", lambda L: L.MaxPooling1D(4), (N, 3, 2), "empty output"),
    ("Cropping1D-crops-everything", lambda L: L.Cropping1D((2, 2)), (N, 4, 2), "leaves nothing"),
    ("Reshape-indivisible", lambda L: L.Reshape((-1, 4)), (N, 3, 2), "cannot be reshaped"),
    ("Reshape-other-size", lambda L: L.Reshape((4, 2)), (N, 3, 2), "cannot be reshaped"),
    ("Add-incompatible", lambda L: L.Add(), [(N, 3), (N, 4)], "broadcast"),
]


@pytest.mark.parametrize("name,make,shape,message", IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_shape_rules_reject_impossible_shapes(name, make, shape, message):
    with pytest.raises(ValueError, match=message):
        make(sk.layers).compute_output_shape(shape)


@pytest.mark.parametrize("name,make,shape,message", IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_keras_rejects_the_same_impossible_shapes(name, make, shape, message, keras_layers):
    with pytest.raises(ValueError):
        make(keras_layers).compute_output_shape(shape)


def test_multi_head_attention_shapes_agree_with_keras(keras_layers):
    for kwargs, query, value, expected in [({}, (N, N, 8), (N, N, 6), (N, N, 8)),
                                           ({"output_shape": 5}, (N, 3, 8), (N, N, 6), (N, 3, 5)),
                                           ({}, (4, 2, N, 8), (4, 2, 5, 6), (4, 2, N, 8))]:
        ours = sk.layers.MultiHeadAttention(2, 4, **kwargs).compute_output_shape(query, value)
        theirs = keras_layers.MultiHeadAttention(2, 4, **kwargs).compute_output_shape(query, value)
        assert _norm(ours) == _norm(theirs) == expected


def _sweep_cases(count=150, seed=0):
    """Seeded random convolution, pooling, padding and cropping layers on shapes with None axes."""
    rng = np.random.default_rng(seed)
    pick = lambda values: values[int(rng.integers(len(values)))]  # noqa: E731
    cases = []
    for _ in range(count):
        kind = pick(["Conv1D", "Conv2D", "Conv2DTranspose", "MaxPooling1D", "AveragePooling2D", "UpSampling2D",
                     "ZeroPadding2D", "Cropping2D"])
        rank = 1 if kind.endswith("1D") else 2
        sizes = tuple(pick([None, 1, 2, 3, 5, 7, 8, 13]) for _ in range(rank))
        data_format = pick(["channels_last", "channels_first"])
        shape = (pick([None, 4]),) + ((3,) + sizes if data_format == "channels_first" else sizes + (3,))
        k, s = pick([1, 2, 3, 4]), pick([1, 2, 3])
        d = pick([1, 2]) if s == 1 else 1
        if kind.startswith("Conv"):
            kwargs = dict(filters=2, kernel_size=k, strides=s, padding=pick(["valid", "same"]),
                          data_format=data_format, dilation_rate=d)
            if kind == "Conv2DTranspose" and s > 1 and rng.random() < 0.3:
                kwargs["output_padding"] = pick([0, 1])
        elif "Pooling" in kind:
            kwargs = dict(pool_size=k, strides=s, padding=pick(["valid", "same"]), data_format=data_format)
        elif kind == "UpSampling2D":
            kwargs = dict(size=(k, s), data_format=data_format)
        elif kind == "ZeroPadding2D":
            kwargs = dict(padding=((k, s), (d, 1)), data_format=data_format)
        else:
            kwargs = dict(cropping=((k - 1, s - 1), (d - 1, 1)), data_format=data_format)
        cases.append((kind, kwargs, shape))
    return cases


def test_spatial_shape_rules_agree_with_keras_on_a_sweep(keras_layers):
    def rule(module, kind, kwargs, shape):
        try:
            return _norm(getattr(module, kind)(**kwargs).compute_output_shape(shape))
        except ValueError:
            return "ValueError"

    differ = [(kind, kwargs, shape) for kind, kwargs, shape in _sweep_cases()
              if rule(sk.layers, kind, kwargs, shape) != rule(keras_layers, kind, kwargs, shape)]
    assert differ == []


def _general_sweep_cases(count=200, seed=1):
    """Seeded random reshaping, merging, pooling, embedding, dense and recurrent layers on None axes."""
    rng = np.random.default_rng(seed)
    pick = lambda values: values[int(rng.integers(len(values)))]  # noqa: E731
    sizes = lambda rank: tuple(pick([None, 1, 2, 3, 4, 6]) for _ in range(rank))  # noqa: E731
    cases = []
    for _ in range(count):
        kind = pick(["Reshape", "Flatten", "Concatenate", "Add", "Multiply", "Dot", "Permute", "RepeatVector",
                     "GlobalAveragePooling1D", "GlobalMaxPooling2D", "Embedding", "Dense", "LSTM", "Bidirectional"])
        b = pick([None, 2])
        if kind == "Reshape":
            target = pick([(-1,), (2, -1), (-1, 3), (6,), (3, 2), (2, 3, -1)])
            cases.append((kind, lambda L, t=target: L.Reshape(t), (b,) + sizes(pick([1, 2, 3]))))
        elif kind == "Flatten":
            cases.append((kind, lambda L: L.Flatten(), (b,) + sizes(pick([1, 2, 3]))))
        elif kind == "Concatenate":
            axis, first = pick([-1, 1]), (b,) + sizes(pick([1, 2]))
            second = list(first)
            second[axis] = pick([None, 2, 5])
            cases.append((kind, lambda L, a=axis: L.Concatenate(axis=a), [first, tuple(second)]))
        elif kind in ("Add", "Multiply"):
            first = (pick([None, 2]),) + sizes(pick([1, 2]))
            second = (pick([None, 1, 2]),) + tuple(d if rng.random() < 0.7 else pick([None, 1]) for d in first[1:])
            cases.append((kind, lambda L, k=kind: getattr(L, k)(), [first, second]))
        elif kind == "Dot":
            axes, first, second = (pick([1, 2]), pick([1, 2])), (b,) + sizes(2), list((b,) + sizes(2))
            second[axes[1]] = first[axes[0]]
            cases.append((kind, lambda L, a=axes: L.Dot(axes=a), [first, tuple(second)]))
        elif kind == "Permute":
            cases.append((kind, lambda L, d=pick([(1, 2), (2, 1)]): L.Permute(d), (b,) + sizes(2)))
        elif kind == "RepeatVector":
            cases.append((kind, lambda L: L.RepeatVector(3), (b,) + sizes(1)))
        elif kind.startswith("Global"):
            kwargs = dict(keepdims=bool(rng.random() < 0.5), data_format=pick(["channels_last", "channels_first"]))
            rank = 2 if kind.endswith("1D") else 3
            cases.append((kind, lambda L, k=kind, kw=kwargs: getattr(L, k)(**kw), (b,) + sizes(rank)))
        elif kind == "Embedding":
            cases.append((kind, lambda L: L.Embedding(10, 4), (b,) + sizes(pick([0, 1, 2]))))
        elif kind == "Dense":
            cases.append((kind, lambda L: L.Dense(3), (b,) + sizes(pick([0, 1, 2])) + (5,)))
        elif kind == "LSTM":
            kwargs = dict(return_sequences=bool(rng.random() < 0.5), return_state=bool(rng.random() < 0.5))
            cases.append((kind, lambda L, kw=kwargs: L.LSTM(3, **kw), (b, pick([None, 4]), 5)))
        else:
            mode = pick(["concat", "sum", "ave", "mul", None])
            cases.append((kind, lambda L, m=mode: L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode=m),
                          (b, pick([None, 4]), 5)))
    return cases


def test_general_shape_rules_agree_with_keras_on_a_sweep(keras_layers):
    def rule(module, make, shape):
        try:
            return _norm(make(module).compute_output_shape(shape))
        except ValueError:
            return "ValueError"

    differ = [(kind, shape) for kind, make, shape in _general_sweep_cases()
              if rule(sk.layers, make, shape) != rule(keras_layers, make, shape)]
    assert differ == []
