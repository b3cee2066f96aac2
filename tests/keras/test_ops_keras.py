"""shendu.keras.ops and shendu.keras.random against Keras 3 (torch backend): the same names, the same
signatures and defaults, the same values; every other keras.ops name raises a teaching error."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import shendu as sd
from shendu.keras import ops, random
from shendu.missing import UnsupportedError


def _public(module):
    return sorted(n for n in dir(module) if not n.startswith("_") and not inspect.ismodule(getattr(module, n)))


def _check_signature(theirs, ours, name):
    want = inspect.signature(theirs).parameters
    got = list(inspect.signature(ours).parameters.values())
    for i, p in enumerate(want.values()):
        assert i < len(got), f"{name}: shendu lacks the argument {p.name!r}"
        assert (got[i].name, got[i].kind) == (p.name, p.kind), \
            f"{name}: argument {i} is {got[i].name!r} ({got[i].kind}), Keras has {p.name!r} ({p.kind})"
        assert got[i].default == p.default, \
            f"{name}({p.name}=...): default {got[i].default!r}, Keras has {p.default!r}"
    for extra in got[len(want):]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (inspect.Parameter.VAR_KEYWORD,
                                                                              inspect.Parameter.VAR_POSITIONAL), \
            f"{name}: extra argument {extra.name!r} needs a default"


def test_every_keras_ops_name_exists_with_keras_signature_or_raises_a_teaching_error(keras):
    implemented = 0
    for name in _public(keras.ops):
        if name in ops._UNSUPPORTED:
            with pytest.raises(UnsupportedError, match=f"keras.ops.{name} is not available in shendu: "):
                getattr(ops, name)
            assert not hasattr(ops, name)
            continue
        _check_signature(getattr(keras.ops, name), getattr(ops, name), f"keras.ops.{name}")
        implemented += 1
    assert implemented >= 250
    for namespace in ("nn", "numpy", "linalg"):
        for name in _public(getattr(keras.ops, namespace)):
            if name not in ops._UNSUPPORTED:
                assert callable(getattr(getattr(ops, namespace), name)), f"keras.ops.{namespace}.{name}"


def test_every_keras_random_name_has_keras_signature(keras):
    for name in _public(keras.random):
        _check_signature(getattr(keras.random, name), getattr(random, name), f"keras.random.{name}")


def test_a_misspelt_ops_name_suggests_the_right_one():
    with pytest.raises(AttributeError, match="Did you mean keras.ops.softmax"):
        ops.sofmax


X = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])
Y = np.array([[1.0, 0.5, -0.5], [0.2, -2.0, 1.1]])
POS = np.abs(X) + 0.5
SQ = np.array([[2.0, 0.5], [0.3, 1.5]])
LABELS = np.array([2, 0])
CASES = [   # (name, args, kwargs)
    ("add", (X, Y), {}), ("subtract", (X, 2), {}), ("multiply", (X, Y), {}), ("divide", (X, POS), {}),
    ("power", (POS, Y), {}), ("negative", (X,), {}), ("abs", (X,), {}), ("exp", (X,), {}), ("log", (POS,), {}),
    ("log1p", (POS,), {}), ("expm1", (X,), {}), ("sqrt", (POS,), {}), ("rsqrt", (POS,), {}), ("square", (X,), {}),
    ("sin", (X,), {}), ("cos", (X,), {}), ("tan", (X,), {}), ("tanh", (X,), {}), ("arctan2", (X, Y), {}),
    ("clip", (X, -1.0, 1.0), {}), ("maximum", (X, Y), {}), ("minimum", (X, 0.0), {}), ("sign", (X,), {}),
    ("floor", (X,), {}), ("ceil", (X,), {}), ("round", (X,), {"decimals": 1}), ("mod", (X, 0.65), {}),
    ("floor_divide", (X, 0.7), {}), ("logaddexp", (X, Y), {}), ("erf", (X,), {}), ("cbrt", (X,), {}),
    ("sum", (X,), {"axis": 1}), ("mean", (X,), {"axis": 0, "keepdims": True}), ("max", (X,), {}),
    ("min", (X,), {"axis": -1}), ("prod", (X,), {"axis": 1}), ("std", (X,), {"axis": 1}), ("var", (X,), {}),
    ("argmax", (X,), {"axis": 1}), ("argmin", (X,), {}), ("any", (X > 1,), {"axis": 0}), ("all", (X > -2,), {}),
    ("logsumexp", (X,), {"axis": 1}), ("cumsum", (X,), {"axis": 1}), ("cumprod", (X,), {"axis": 0}),
    ("median", (X,), {"axis": 1}), ("quantile", (X, 0.3), {"axis": 1}), ("average", (X,), {"axis": 1}),
    ("reshape", (X, (3, 2)), {}), ("transpose", (X,), {}), ("expand_dims", (X, 1), {}),
    ("squeeze", (X[:1],), {}), ("concatenate", ([X, Y],), {"axis": 1}), ("stack", ([X, Y],), {"axis": 1}),
    ("tile", (X, (2, 1)), {}), ("repeat", (X, 2), {"axis": 1}), ("broadcast_to", (X[:1], (3, 3)), {}),
    ("flip", (X,), {"axis": 1}), ("roll", (X, 1), {"axis": 1}), ("pad", (X, ((1, 0), (0, 2))), {}),
    ("pad", (X, ((1, 1), (2, 1))), {"mode": "reflect"}), ("moveaxis", (X, 0, 1), {}), ("swapaxes", (X, 0, 1), {}),
    ("tril", (X,), {}), ("triu", (X,), {"k": 1}), ("diagonal", (X,), {}), ("trace", (X,), {}), ("diff", (X,), {}),
    ("take", (X, np.array([2, 0])), {"axis": 1}), ("take_along_axis", (X, np.array([[2], [1]])), {"axis": 1}),
    ("where", (X > 0, X, Y), {}), ("slice", (X, (0, 1), (2, 2)), {}),
    ("slice_update", (X, (1, 1), np.ones((1, 2))), {}), ("sort", (X,), {}), ("argsort", (X,), {}),
    ("einsum", ("ij,kj->ik", X, Y), {}), ("matmul", (X, Y.T), {}), ("dot", (X, Y.T), {}),
    ("tensordot", (X, Y.T), {"axes": 1}), ("outer", (X[0], Y[0]), {}), ("inner", (X, Y), {}),
    ("norm", (X,), {}), ("norm", (X,), {"ord": 1, "axis": 1}), ("inv", (SQ,), {}), ("solve", (SQ, X[:, :2]), {}),
    ("det", (SQ,), {}), ("equal", (X, X), {}), ("greater", (X, Y), {}), ("less_equal", (X, 0.3), {}),
    ("logical_and", (X > 0, Y > 0), {}), ("logical_not", (X > 0,), {}), ("isfinite", (X,), {}),
    ("relu", (X,), {}), ("relu6", (X * 5,), {}), ("sigmoid", (X,), {}), ("softplus", (X,), {}), ("silu", (X,), {}),
    ("gelu", (X,), {}), ("gelu", (X,), {"approximate": False}), ("elu", (X,), {}), ("selu", (X,), {}),
    ("leaky_relu", (X,), {}), ("hard_sigmoid", (X,), {}), ("hard_silu", (X,), {}), ("log_sigmoid", (X,), {}),
    ("celu", (X,), {}), ("glu", (np.hstack([X, Y]),), {}), ("softsign", (X,), {}), ("squareplus", (X,), {}),
    ("softmax", (X,), {}), ("softmax", (X,), {"axis": 0}), ("log_softmax", (X,), {}),
    ("one_hot", (LABELS, 3), {}), ("multi_hot", (np.array([[0, 2], [1, 1]]), 3), {}),
    ("binary_crossentropy", (np.array([[1.0, 0.0, 1.0]]), 1 / (1 + np.exp(-X[:1]))), {}),
    ("binary_crossentropy", (np.array([[1.0, 0.0, 1.0]]), X[:1]), {"from_logits": True}),
    ("categorical_crossentropy", (np.eye(3)[LABELS], POS), {}),
    ("categorical_crossentropy", (np.eye(3)[LABELS], X), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (LABELS, X), {"from_logits": True}),
    ("moments", (X,), {"axes": [1]}), ("normalize", (X,), {}), ("layer_normalization", (X,), {}),
    ("rms_normalization", (X,), {}), ("psnr", (POS, POS + 0.1, 3.0), {}),
    ("conv", (np.arange(2 * 5 * 3.0).reshape(2, 5, 3) / 10, np.linspace(-1, 1, 3 * 3 * 2).reshape(3, 3, 2)),
     {"strides": 2, "padding": "same"}),
    ("conv_transpose", (np.arange(2 * 3 * 2.0).reshape(2, 3, 2) / 10, np.linspace(-1, 1, 3 * 4 * 2).reshape(3, 4, 2)),
     {"strides": 2}),
    ("max_pool", (np.arange(2 * 4 * 4 * 1.0).reshape(2, 4, 4, 1), 2), {}),
    ("average_pool", (np.arange(2 * 5 * 2.0).reshape(2, 5, 2), 2), {"padding": "same"}),
    ("dot_product_attention", (np.ones((1, 2, 1, 3)) * 0.1, X.reshape(1, 2, 1, 3), Y.reshape(1, 2, 1, 3)), {}),
    ("arange", (1, 7, 2), {}), ("eye", (3,), {"k": 1}), ("linspace", (0, 1, 5), {}), ("full", ((2, 2), 3.0), {}),
    ("zeros_like", (X,), {}), ("ones", ((2, 3),), {}), ("tri", (3,), {}),
]


def _as_numpy(value):
    if isinstance(value, (tuple, list)):
        return [_as_numpy(v) for v in value]
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_ops_values_match_keras(keras, name, args, kwargs):
    theirs = _as_numpy(getattr(keras.ops, name)(*args, **kwargs))
    ours = getattr(ops, name)(*args, **kwargs)
    ours = [o.numpy() for o in ours] if isinstance(ours, (tuple, list)) else ours.numpy()
    if isinstance(theirs, list):
        for t, o in zip(theirs, ours):
            np.testing.assert_allclose(o, t, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=name)
        assert ours.shape == theirs.shape, name


def test_gradients_through_keras_ops_match_torch(keras):
    """A small loss written with keras.ops: shendu's gradient equals torch's autograd through Keras."""
    import torch

    def loss(o, x, w, c):
        h = o.relu(o.matmul(x, w))
        p = o.softmax(h, axis=-1)
        return o.mean(o.sum(o.square(o.subtract(p, c)), axis=1)) + o.mean(o.logsumexp(h, axis=0))

    x, w = np.random.default_rng(0).normal(size=(4, 3)), np.random.default_rng(1).normal(size=(3, 5))
    c = np.full((4, 5), 0.2)
    wt = torch.tensor(w, requires_grad=True)
    loss(keras.ops, torch.tensor(x), wt, torch.tensor(c)).backward()
    ws = sd.tensor(w, requires_grad=True)
    loss(ops, x, ws, c).backward()
    # Keras computes a few steps (softmax, logsumexp) in float32 even for float64 inputs, hence 1e-6
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_random_draws_have_keras_shapes_dtypes_and_ranges(keras):
    gen = random.SeedGenerator(3)
    a, b = random.normal((200,), seed=gen), random.normal((200,), seed=gen)
    assert a.shape == (200,) and a.dtype == np.float32 and not np.array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(random.uniform((5,), seed=1).numpy(), random.uniform((5,), seed=1).numpy())
    assert abs(float(random.normal((20000,), 1.0, 2.0, seed=0).numpy().std()) - 2.0) < 0.05
    t = random.truncated_normal((10000,), seed=0).numpy()
    reference = keras.random.truncated_normal((10000,), seed=0).numpy()
    assert np.abs(t).max() <= 2.0 and abs(t.std() - reference.std()) < 0.03
    r = random.randint((1000,), 2, 5, seed=0)
    assert r.dtype == np.int32 and set(np.unique(r.numpy())) == {2, 3, 4}
    c = random.categorical(np.log(np.array([[0.1, 0.9], [1.0, 1e-9]])), 4000, seed=0).numpy()
    assert c.shape == (2, 4000) and abs(c[0].mean() - 0.9) < 0.03 and c[1].max() == 0
    assert random.gamma((3,), 2.0).shape == (3,) and random.beta((3,), 2.0, 3.0).shape == (3,)
    assert random.binomial((3,), 5, 0.5).shape == (3,)


def test_random_dropout_and_shuffle_are_differentiable():
    x = sd.tensor(np.ones((50, 40)), requires_grad=True)
    y = random.dropout(x, 0.25, seed=0)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75)
    assert 0.2 < 1 - kept.mean() < 0.3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75)
    row_mask = random.dropout(np.ones((4, 6)), 0.5, noise_shape=(None, 1), seed=2).numpy()
    assert all(len(set(r)) == 1 for r in row_mask)
    v = sd.tensor(np.arange(10.0), requires_grad=True)
    s = random.shuffle(v, seed=0)
    assert sorted(s.numpy()) == list(range(10))
    (s * sd.tensor(np.arange(10.0))).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy()[s.numpy().astype(int)], np.arange(10.0))


def test_star_import_of_ops_brings_functions_not_helpers_or_numpy():
    scope = {"numpy": np}
    exec("from shendu.keras.ops import *", scope)
    assert scope["numpy"] is np and callable(scope["einsum"]) and callable(scope["relu"])
    assert not any(name in scope for name in ("backend", "Tensor", "types", "missing_names"))
