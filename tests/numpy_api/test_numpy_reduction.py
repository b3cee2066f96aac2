"""shendu/numpy_api/reduction.py: reductions, scans and order statistics against NumPy, gradient-checked."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Row, cases, check_row, distinct

import shendu as sd
from shendu.numpy_api import reduction as npr

SHAPES = [((3, 4),), ((2, 1, 5),), ((1,),)]
AXES = [None, 0, -1, (0, 1)]


def _rows(name, fn, ref, domain=(-2.0, 2.0), shapes=SHAPES, axes=AXES):
    rows = []
    for axis in axes:
        for keepdims in (False, True):
            tag = f"{name}_axis{str(axis).replace(' ', '')}_keep{int(keepdims)}"
            rows.append(Row(tag, lambda x, a=axis, k=keepdims: fn(x, axis=a, keepdims=k),
                            lambda x, a=axis, k=keepdims: ref(x, axis=a, keepdims=k),
                            [s for s in shapes if axis is None or len(s[0]) >= 2 or axis in (0, -1)],
                            domain=domain))
    return rows


def _nan_input(rng, shape):
    x = rng.uniform(-2, 2, shape)
    return np.where(rng.random(shape) < 0.2, np.nan, x)


ROWS = (_rows("sum", npr.sum, np.sum) + _rows("mean", npr.mean, np.mean)
        + _rows("max", npr.max, np.max, distinct(-2, 2)) + _rows("min", npr.min, np.min, distinct(-2, 2))
        + _rows("amax", npr.amax, np.amax, distinct(-2, 2)) + _rows("amin", npr.amin, np.amin, distinct(-2, 2))
        + _rows("prod", npr.prod, np.prod) + _rows("var", npr.var, np.var)
        + _rows("std", npr.std, np.std, shapes=SHAPES[:2])
        + _rows("ptp", npr.ptp, np.ptp, distinct(-2, 2))
        + _rows("median", npr.median, np.median, distinct(-2, 2), axes=[None, 0, -1])
        + [
            Row("logsumexp", lambda x: npr.logsumexp(x, axis=1), lambda x: np.log(np.exp(x).sum(1)), [((3, 4),)]),
            Row("max_initial", lambda x: npr.max(x, axis=0, initial=0.5), lambda x: np.max(x, 0, initial=0.5),
                [((3, 4),)], domain=distinct(-2, 2), kinks=(0.5,)),
            Row("min_initial", lambda x: npr.min(x, initial=-0.5), lambda x: np.min(x, initial=-0.5), [((3, 4),)],
                domain=distinct(-2, 2), kinks=(-0.5,)),
            Row("average", lambda x, w: npr.average(x, axis=1, weights=w), lambda x, w: np.average(x, 1, w),
                [((3, 4), (4,))], domain=[(-2.0, 2.0), (0.5, 2.0)]),
            Row("average_plain", lambda x: npr.average(x, axis=0), lambda x: np.average(x, 0), [((3, 4),)]),
            Row("cumsum", lambda x: npr.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), [((3, 4),)]),
            Row("cumsum_flat", npr.cumsum, np.cumsum, [((3, 4),)]),
            Row("cumprod", lambda x: npr.cumprod(x, axis=0), lambda x: np.cumprod(x, 0), [((3, 4),)]),
            Row("nansum", lambda x: npr.nansum(x, axis=1), lambda x: np.nansum(x, 1), [((3, 4),)], domain=_nan_input),
            Row("nanmean", lambda x: npr.nanmean(x, axis=0), lambda x: np.nanmean(x, 0), [((6, 3),)],
                domain=lambda r, s: np.vstack([r.uniform(-2, 2, (1, s[1])), _nan_input(r, (s[0] - 1, s[1]))])),
            Row("nanvar", lambda x: npr.nanvar(x), np.nanvar, [((4, 4),)], domain=_nan_input),
            Row("nanstd", lambda x: npr.nanstd(x), np.nanstd, [((4, 4),)], domain=_nan_input),
            Row("nanmax", lambda x: npr.nanmax(x), np.nanmax, [((4, 4),)], domain=_nan_input),
            Row("nanmin", lambda x: npr.nanmin(x), np.nanmin, [((4, 4),)], domain=_nan_input),
            Row("nanprod", lambda x: npr.nanprod(x, axis=1), lambda x: np.nanprod(x, 1), [((3, 4),)],
                domain=_nan_input),
            Row("nancumsum", lambda x: npr.nancumsum(x, axis=1), lambda x: np.nancumsum(x, 1), [((3, 4),)],
                domain=_nan_input),
            Row("nancumprod", lambda x: npr.nancumprod(x, axis=1), lambda x: np.nancumprod(x, 1), [((3, 4),)],
                domain=_nan_input),
            Row("quantile", lambda x: npr.quantile(x, 0.3, axis=1), lambda x: np.quantile(x, 0.3, axis=1),
                [((3, 5),)], domain=distinct(-2, 2)),
            Row("quantile_many_keep", lambda x: npr.quantile(x, [0.1, 0.75], axis=0, keepdims=True),
                lambda x: np.quantile(x, [0.1, 0.75], axis=0, keepdims=True), [((4, 3),)], domain=distinct(-2, 2)),
            Row("quantile_all", lambda x: npr.quantile(x, 0.5), lambda x: np.quantile(x, 0.5), [((3, 4),)],
                domain=distinct(-2, 2)),
            Row("percentile_lower", lambda x: npr.percentile(x, 40, axis=1, method="lower"),
                lambda x: np.percentile(x, 40, axis=1, method="lower"), [((3, 6),)], domain=distinct(-2, 2)),
            Row("percentile_midpoint", lambda x: npr.percentile(x, [25, 90], axis=1, method="midpoint"),
                lambda x: np.percentile(x, [25, 90], axis=1, method="midpoint"), [((3, 6),)], domain=distinct(-2, 2)),
            Row("trapezoid", lambda y: npr.trapezoid(y), lambda y: np.trapezoid(y), [((3, 5),)]),
            Row("trapezoid_x", lambda y, x: npr.trapezoid(y, x, axis=0), lambda y, x: np.trapezoid(y, x, axis=0),
                [((4, 2), (4,))]),
        ])


@pytest.mark.parametrize("row, shapes", cases(ROWS))
def test_numpy_reduction_table(backend, row, shapes):
    check_row(row, shapes)


def test_index_and_boolean_reductions_match_numpy():
    x = np.array([[3.0, -1.0, 7.0], [2.0, 9.0, 0.0]])
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(npr.argmax(x, axis).numpy(), np.argmax(x, axis))
        np.testing.assert_array_equal(npr.argmin(x, axis).numpy(), np.argmin(x, axis))
        np.testing.assert_array_equal(npr.any(x > 8, axis).numpy(), np.any(x > 8, axis))
        np.testing.assert_array_equal(npr.all(x > -2, axis).numpy(), np.all(x > -2, axis))
        np.testing.assert_array_equal(npr.count_nonzero(x, axis).numpy(), np.count_nonzero(x, axis))
    assert npr.argmax(x, 1).dtype == np.int32 and npr.argmax(x, keepdims=True).shape == (1, 1)
    nan = np.array([[np.nan, 2.0, 1.0]])
    assert int(npr.nanargmax(nan).numpy()) == 1 and int(npr.nanargmin(nan).numpy()) == 2


def test_sum_of_booleans_counts_and_mean_of_ints_is_float32():
    assert int(npr.sum(np.array([True, True, False])).numpy()) == 2
    assert npr.mean(np.arange(3)).dtype == np.float32


def test_median_gradient_goes_to_the_middle_elements():
    x = sd.tensor(np.array([4.0, 1.0, 3.0, 2.0]), requires_grad=True)
    npr.median(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.5, 0.5])
