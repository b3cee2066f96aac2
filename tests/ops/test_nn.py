"""shendu/ops/nn.py: dropout, embedding, softmax_cross_entropy (fused, checked against its composed form)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, assert_every_op_has_a_row, cases, check_row

import shendu as sd
from shendu import ops
from shendu.ops import nn


def _dropout_row(name, rate, shapes):
    # a fresh generator with a fixed seed per call: every call (and every finite difference) draws one mask
    def fn(x):
        return ops.dropout(x, rate, rng=np.random.default_rng(7))

    def ref(x):
        keep = np.random.default_rng(7).random(x.shape) >= rate
        return x * keep / (1 - rate)
    return Row(name, fn, ref, shapes, float32=False)   # float32: test_dropout_drops_about_rate...


def _np_log_softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


IDS = np.array([[0, 2, 2], [4, 0, 2]])           # repeated ids: their gradients must add up
LABELS = np.array([2, 0, 3])
LABELS_3D = np.array([[1, 0], [3, 3]])


def _soft_targets(shape, seed=3):
    t = np.random.default_rng(seed).random(shape)
    return t / t.sum(axis=-1, keepdims=True)


T34, T224 = _soft_targets((3, 4)), _soft_targets((2, 2, 4))

ROWS = [
    _dropout_row("dropout_half", 0.5, [((4, 5),), ((1, 7),), ((2, 3, 4),)]),
    _dropout_row("dropout_small_rate", 0.1, [((6, 3),)]),
    Row("dropout_not_training", lambda x: ops.dropout(x, 0.5, training=False), lambda x: x, [((3, 4),)]),
    Row("embedding", lambda W: ops.embedding(IDS, W), lambda W: W[IDS], [((5, 3),)]),
    Row("embedding_1d_ids", lambda W: ops.embedding([3, 3, 1], W), lambda W: W[[3, 3, 1]], [((4, 2),), ((4, 1),)]),
    Row("softmax_cross_entropy_sparse", lambda z: ops.softmax_cross_entropy(z, LABELS, sparse=True),
        lambda z: -_np_log_softmax(z)[np.arange(3), LABELS], [((3, 4),)]),
    Row("softmax_cross_entropy_sparse_3d", lambda z: ops.softmax_cross_entropy(z, LABELS_3D, sparse=True),
        lambda z: -np.take_along_axis(_np_log_softmax(z), LABELS_3D[..., None], -1)[..., 0], [((2, 2, 4),)]),
    Row("softmax_cross_entropy_dense", lambda z: ops.softmax_cross_entropy(z, T34),
        lambda z: -(T34 * _np_log_softmax(z)).sum(-1), [((3, 4),)]),
    Row("softmax_cross_entropy_dense_3d", lambda z: ops.softmax_cross_entropy(z, T224),
        lambda z: -(T224 * _np_log_softmax(z)).sum(-1), [((2, 2, 4),)]),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_nn_op_table(backend, row, shapes):
    check_row(row, shapes)


def test_every_nn_op_has_a_row():
    assert_every_op_has_a_row(nn, ROWS)


# ------------------------------------------------------------------------------------------- dropout
def test_dropout_drops_about_rate_and_scales_the_rest():
    x = sd.tensor(np.ones((200, 500), np.float32), requires_grad=True)
    y = ops.dropout(x, 0.3, rng=np.random.default_rng(0))
    values = y.numpy()
    assert y.dtype == np.float32
    assert abs((values == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(values[values != 0], 1 / 0.7, rtol=1e-6)    # inverted dropout
    assert abs(values.mean() - 1.0) < 0.02                                 # expectation kept
    y.backward(np.full(y.shape, 2.0, np.float32))
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * values, rtol=1e-6)    # same mask, same scale
    assert x.grad.dtype == np.float32


def test_dropout_mask_is_saved_through_the_engine_and_freed_by_backward():
    x = sd.tensor(np.ones((4, 5), "float32"), requires_grad=True)
    y = ops.dropout(x, 0.5, rng=np.random.default_rng(1))
    fn = y.creator
    (mask,) = fn.saved                            # the scaled mask is backward's only state
    np.testing.assert_array_equal(mask, y.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, mask)
    assert fn.saved is None
    assert not [k for k, v in vars(fn).items() if isinstance(v, np.ndarray)]   # nothing kept beside save()


def test_dropout_is_identity_when_not_training_or_rate_zero():
    x = sd.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for y in (ops.dropout(x, 0.5, training=False), ops.dropout(x, 0.0)):
        np.testing.assert_array_equal(y.numpy(), x.numpy())
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
        x.grad = None


def test_dropout_uses_the_seeded_shared_generator_by_default():
    x = sd.tensor(np.ones(50))
    sd.set_seed(123)
    first = ops.dropout(x, 0.5).numpy()
    sd.set_seed(123)
    np.testing.assert_array_equal(ops.dropout(x, 0.5).numpy(), first)
    assert not np.array_equal(ops.dropout(x, 0.5).numpy(), first)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        ops.dropout(sd.tensor(np.ones(3)), rate)


# ----------------------------------------------------------------------------------------- embedding
def test_embedding_scatter_adds_repeated_ids():
    W = sd.tensor(np.zeros((4, 2)), requires_grad=True)
    y = ops.embedding(np.array([[1, 1], [3, 1]]), W)
    assert y.shape == (2, 2, 2)
    y.backward(np.ones((2, 2, 2)))
    np.testing.assert_array_equal(W.grad.numpy(), [[0, 0], [3, 3], [0, 0], [1, 1]])


@pytest.mark.parametrize("bad", [5, -1])
def test_embedding_id_out_of_range_names_the_id_and_range(bad):
    with pytest.raises(IndexError, match=rf"id {bad} is outside the table's range \[0, 5\)"):
        ops.embedding(np.array([0, bad, 1]), sd.tensor(np.zeros((5, 2))))


def test_embedding_accepts_integral_floats_and_tensors_but_not_fractions():
    W = sd.tensor(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(ops.embedding(np.array([2.0, 0.0]), W).numpy(), [[4, 5], [0, 1]])
    np.testing.assert_array_equal(ops.embedding(sd.tensor([1]), W).numpy(), [[2, 3]])
    with pytest.raises(TypeError, match="must be integers"):
        ops.embedding(np.array([0.5]), W)


# ----------------------------------------------------------------------------- softmax_cross_entropy
@pytest.mark.parametrize("sparse", [False, True])
def test_softmax_cross_entropy_matches_the_composed_oracle(sparse):
    """The fused op against -Σ t log_softmax(z) built from primitives: values and gradients."""
    rng = np.random.default_rng(2)
    z0 = rng.normal(size=(5, 4)) * 3
    labels = np.array([0, 3, 3, 1, 2])
    target = labels if sparse else np.eye(4)[labels] * 0.9 + 0.025
    results = []
    for fused in (True, False):
        z = sd.tensor(z0, requires_grad=True)
        if fused:
            loss = ops.softmax_cross_entropy(z, target, sparse=sparse)
        elif sparse:
            loss = -ops.log_softmax(z)[np.arange(5), labels]
        else:
            loss = -(ops.log_softmax(z) * target).sum(axis=-1)
        (loss * np.arange(1.0, 6.0)).sum().backward()
        results.append((loss.numpy(), z.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("shape", [(4,), (1, 4), (2, 3, 4)])
def test_sparse_softmax_cross_entropy_on_strided_logits_and_any_rank(shape):
    """Logits that are a transposed view, labels of any rank: the picked entries and the gradient written
    back through a flat view land where the composed log-softmax puts them."""
    rng = np.random.default_rng(len(shape))
    z0 = np.asfortranarray(rng.normal(size=shape))       # not C-contiguous for rank >= 2
    labels = rng.integers(0, 4, shape[:-1])
    z = sd.tensor(z0, requires_grad=True)
    loss = ops.softmax_cross_entropy(z, labels, sparse=True)
    loss.sum().backward()
    log_p = z0 - z0.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(loss.numpy(), -(log_p * one_hot).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(z.grad.numpy(), np.exp(log_p) - one_hot, atol=1e-12)


def test_softmax_cross_entropy_is_finite_for_huge_logits_and_keeps_float32():
    z = sd.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], np.float32), requires_grad=True)
    loss = ops.softmax_cross_entropy(z, np.array([1, 2]), sparse=True)
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy(), [2e4, 0.0])
    loss.sum().backward()
    assert z.grad.dtype == np.float32
    np.testing.assert_allclose(z.grad.numpy(), [[1, -1, 0], [0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, n", [((7, 3), 50), ((1, 1), 4), ((5, 2), 0), ((300, 5), 1000)])
def test_row_gradient_adds_repeated_rows_like_add_at_bit_for_bit(dtype, shape, n):
    from shendu.ops.nn import _row_gradient
    rng = np.random.default_rng(n)
    rows = rng.integers(0, shape[0], n)
    values = rng.normal(size=(n, shape[1])).astype(dtype)
    expected = np.zeros(shape, dtype)
    np.add.at(expected, rows, values)
    got = _row_gradient(shape, rows, values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)



@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_row_gradient_without_the_compiled_loop_uses_add_at(monkeypatch, dtype):
    from shendu.ops import nn
    monkeypatch.setattr(nn, "_compiled_scatter", [None] if dtype == "float32" else [])   # no numba / a dtype it skips
    rows = np.array([2, 0, 2, 2])
    values = np.arange(12, dtype=dtype).reshape(4, 3)
    got = nn._row_gradient((4, 3), rows, values)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, [[3, 4, 5], [0, 0, 0], [0 + 6 + 9, 1 + 7 + 10, 2 + 8 + 11], [0, 0, 0]])
