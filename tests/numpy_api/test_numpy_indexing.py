"""shendu/numpy_api/indexing.py: gathers, scatters, where, slices, sorting against NumPy, gradient-checked;
indices and orders as integer constants."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, cases, check_row, distinct

import shendu as sd
from shendu.numpy_api import indexing as npi

IDX = np.array([[2, 0], [1, 1], [0, 2]])


def _scatter_ref(indices, values, shape):
    out = np.zeros(shape)
    np.add.at(out, tuple(indices.T), values)
    return out


ROWS = [
    Row("take", lambda x: npi.take(x, np.array([2, 0, 2]), axis=1), lambda x: np.take(x, [2, 0, 2], axis=1),
        [((2, 3),)]),
    Row("take_flat", lambda x: npi.take(x, np.array([[5, -1]])), lambda x: np.take(x, [[5, -1]]), [((2, 3),)]),
    Row("take_along_axis", lambda x: npi.take_along_axis(x, IDX, 1), lambda x: np.take_along_axis(x, IDX, 1),
        [((3, 4),)]),
    Row("take_along_axis_broadcast", lambda x: npi.take_along_axis(x, np.array([[1], [0]]), 0),
        lambda x: np.take_along_axis(x, np.array([[1], [0]]), 0), [((3, 1),)]),
    Row("take_along_axis_flat", lambda x: npi.take_along_axis(x, np.array([4, 0])),
        lambda x: np.take_along_axis(x.reshape(-1), np.array([4, 0]), 0), [((2, 3),)]),
    Row("where", lambda a, b: npi.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
        [((3, 4), (3, 4)), ((2, 1), (1, 3))], kinks=(0.0,)),
    Row("where_scalar", lambda a: npi.where(a > 0, a, 0.5), lambda a: np.where(a > 0, a, 0.5), [((3, 4),)],
        kinks=(0.0,)),
    Row("select", lambda a: npi.select([a < -1, a > 1], [a * 2, a * a], -1.0),
        lambda a: np.select([a < -1, a > 1], [a * 2, a * a], -1.0), [((3, 4),)], kinks=(-1.0, 1.0)),
    Row("get_item", lambda x: npi.get_item(x, (slice(1, None), 0)), lambda x: x[1:, 0], [((3, 4),)]),
    Row("slice", lambda x: npi.slice(x, [1, 0], (2, 3)), lambda x: x[1:3, 0:3], [((4, 4),)]),
    Row("slice_update", lambda x, u: npi.slice_update(x, (1, 2), u),
        lambda x, u: np.concatenate([x[:1], np.concatenate([x[1:3, :2], u, x[1:3, 4:]], 1), x[3:]]),
        [((4, 5), (2, 2))]),
    Row("scatter", lambda v: npi.scatter(np.array([[0, 1], [2, 2], [0, 1]]), v, (3, 3)),
        lambda v: _scatter_ref(np.array([[0, 1], [2, 2], [0, 1]]), v, (3, 3)), [((3,),)]),
    Row("scatter_rows", lambda v: npi.scatter(np.array([[1], [3]]), v, (4, 2)),
        lambda v: _scatter_ref(np.array([[1], [3]]), v, (4, 2)), [((2, 2),)]),
    Row("scatter_update", lambda x, u: npi.scatter_update(x, np.array([[0, 0], [2, 1]]), u),
        lambda x, u: np.where(np.isin(np.arange(6).reshape(3, 2), [0, 5]),
                              _scatter_ref(np.array([[0, 0], [2, 1]]), u, (3, 2)), x), [((3, 2), (2,))]),
    Row("scatter_update_add", lambda x, u: npi.scatter_update(x, np.array([[1]]), u, reduction="add"),
        lambda x, u: x + _scatter_ref(np.array([[1]]), u, x.shape), [((3, 2), (1, 2))]),
    Row("sort", npi.sort, np.sort, [((3, 4),), ((5,),)], domain=distinct(-2, 2)),
    Row("sort_axis0", lambda x: npi.sort(x, 0), lambda x: np.sort(x, 0), [((3, 4),)], domain=distinct(-2, 2)),
    Row("top_k", lambda x: npi.top_k(x, 2)[0], lambda x: -np.sort(-x, -1)[..., :2], [((3, 4),)],
        domain=distinct(-2, 2)),
    Row("bincount", lambda w: npi.bincount(np.array([0, 2, 2, 5]), w), lambda w: np.bincount([0, 2, 2, 5], w),
        [((4,),)]),
    Row("segment_sum", lambda x: npi.segment_sum(x, np.array([0, 0, 2])),
        lambda x: np.stack([x[0] + x[1], 0 * x[0], x[2]]), [((3, 2),)]),
    Row("segment_max", lambda x: npi.segment_max(x, np.array([1, 0, 1])),
        lambda x: np.stack([x[1], np.maximum(x[0], x[2])]), [((3, 2),)], domain=distinct(-2, 2)),
]


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_numpy_indexing_table(backend, row, shapes):
    check_row(row, shapes)


def test_integer_results_match_numpy():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    np.testing.assert_array_equal(npi.argsort(x).numpy(), np.argsort(x, kind="stable"))
    np.testing.assert_array_equal(npi.argsort(x, None).numpy(), np.argsort(x, None, kind="stable"))
    values, indices = npi.top_k(x, 2)
    np.testing.assert_array_equal(indices.numpy(), [[0, 2], [1, 2]])
    np.testing.assert_array_equal(npi.top_k(x, 2, sorted=False)[1].numpy(), [[0, 2], [1, 2]])
    for got, want in zip(npi.nonzero(x), np.nonzero(x)):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(npi.where(x > 2), np.nonzero(x > 2)):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(npi.in_top_k(np.array([0, 1]), x, 1).numpy(), [True, True])
    np.testing.assert_array_equal(npi.searchsorted(np.array([1.0, 3.0, 5.0]), np.array([0.0, 3.0, 6.0])).numpy(),
                                  [0, 1, 3])
    np.testing.assert_array_equal(npi.digitize(np.array([0.5, 2.5]), np.array([1.0, 2.0])).numpy(), [0, 2])
    np.testing.assert_array_equal(npi.bincount(np.array([0, 2, 2])).numpy(), [1, 0, 2])
    np.testing.assert_array_equal(npi.isin(np.array([1, 2, 3]), np.array([2])).numpy(), [False, True, False])
    for got, want in zip(npi.unravel_index(np.array([4, 5]), (2, 3)), np.unravel_index([4, 5], (2, 3))):
        np.testing.assert_array_equal(got.numpy(), want)
    values, counts = npi.unique(np.array([3, 1, 3]), return_counts=True)
    np.testing.assert_array_equal(values.numpy(), [1, 3])
    np.testing.assert_array_equal(counts.numpy(), [1, 2])
    np.testing.assert_array_equal(npi.unique(np.array([3, 1]), size=4, fill_value=0).numpy(), [1, 3, 0, 0])


def test_take_gradient_adds_up_repeated_indices():
    x = sd.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    npi.take(x, np.array([0, 0, 2])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_indexing_errors_name_the_fix():
    with pytest.raises(ValueError, match="give both x1 and x2"):
        npi.where(np.ones(2) > 0, np.ones(2))
    with pytest.raises(ValueError, match="one entry per axis"):
        npi.slice(np.ones((2, 2)), [0], (1, 1))
    with pytest.raises(ValueError, match="reduction 'max' is not supported"):
        npi.scatter_update(np.ones(3), np.array([[0]]), np.ones(1), reduction="max")
