"""shendu/ops/pool.py: max and average pooling over 1-D, 2-D and 3-D inputs, channels-last.

Each case: gradcheck (float64 central differences, distinct values so that every maximum is unique) and
forward plus the input gradient against PyTorch in float32 and float64, padded by TensorFlow's rule (-inf
for the maximum; an average over the real cells only, the sum over PyTorch's zero-padded windows divided
by the count of real cells). The compiled 2-D max pool (ops/conv_loops.py) is checked against its
formula in test_conv_loops.py; here the op runs whichever form is installed.
"""
from __future__ import annotations

import numpy as np
import pytest

from shendu import ops
from shendu.testing import assert_close, gradcheck
from helpers import check_against_torch, first, last, per_axis, tf_padded

try:
    import torch          # the oracle, for the tests marked needs_torch only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")

# x shape, pool_size, strides, padding
CASES = [
    ((2, 9, 3), 3, 2, "same"),
    ((2, 8, 2), 2, None, "valid"),
    ((1, 7, 2), 3, 1, "valid"),
    ((2, 6, 6, 3), 2, None, "valid"),
    ((1, 7, 7, 2), 3, 2, "valid"),              # overlapping windows
    ((2, 7, 5, 2), 3, 2, "same"),
    ((2, 5, 6, 1), (2, 3), (1, 2), "same"),
    ((1, 4, 4, 1), 2, 1, "valid"),
    ((1, 4, 4, 4, 2), 2, None, "valid"),
    ((2, 5, 6, 7, 3), (2, 3, 2), None, "valid"),
    ((2, 5, 4, 5, 2), 3, 2, "same"),
    ((2, 3, 5, 4, 1), (2, 2, 3), (1, 2, 1), "same"),
]
POOLS = [(kind, *case) for kind in ("max", "avg") for case in CASES]


def shendu_pool(kind, rank):
    return getattr(ops, f"{kind}_pool{rank}d")


def distinct(shape):
    return np.random.default_rng(0).permutation(np.prod(shape)).reshape(shape) / np.prod(shape)


def torch_pool(kind, x, pool, strides, padding):
    """TensorFlow's pooling through PyTorch: -inf padding for the max; for the average, the sum over real
    cells over their count (the zero-padded averages of x and of ones, whose ratio cancels the window size)."""
    rank = x.ndim - 2
    pool = per_axis(pool, rank)
    strides = pool if strides is None else per_axis(strides, rank)
    one = (1,) * rank
    if kind == "max":
        return last(getattr(F, f"max_pool{rank}d")(tf_padded(first(x), pool, strides, one, padding, -np.inf),
                                                    pool, strides))
    average = getattr(F, f"avg_pool{rank}d")
    total = average(tf_padded(first(x), pool, strides, one, padding), pool, strides)
    count = average(tf_padded(torch.ones_like(first(x)[:, :1]), pool, strides, one, padding), pool, strides)
    return last(total / count)


@pytest.mark.parametrize("kind, x_shape, pool, strides, padding", POOLS, ids=str)
def test_pool_gradcheck(kind, x_shape, pool, strides, padding):
    op = shendu_pool(kind, len(x_shape) - 2)
    assert gradcheck(lambda t: op(t, pool, strides, padding), distinct(x_shape))


@needs_torch
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-12)], ids=["float32", "float64"])
@pytest.mark.parametrize("kind, x_shape, pool, strides, padding", POOLS, ids=str)
def test_pool_matches_torch(kind, x_shape, pool, strides, padding, dtype, tol):
    op = shendu_pool(kind, len(x_shape) - 2)
    check_against_torch(lambda t: op(t, pool, strides, padding),
                        lambda t: torch_pool(kind, t, pool, strides, padding), [distinct(x_shape)], dtype, tol)


@needs_torch
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_max_pool_sends_each_window_gradient_to_its_first_maximum_like_torch(rank):
    x = np.ones((1, *(5,) * rank, 2))             # every element ties
    check_against_torch(lambda t: shendu_pool("max", rank)(t, 3, 2),
                        lambda t: torch_pool("max", t, 3, 2, "valid"), [x], np.float64, 1e-12)


@pytest.mark.parametrize("shape, pool, strides, padding", [((2, 7, 3), 2, None, "valid"), ((2, 7, 6, 2), 3, 2, "same"),
                                                           ((1, 5, 4, 3), (2, 3), 1, "valid")], ids=str)
def test_rank_generic_pooling_agrees_with_the_1d_and_2d_ops(shape, pool, strides, padding):
    x = distinct(shape)
    for generic, kind in ((ops.max_pool, "max"), (ops.avg_pool, "avg")):
        fixed = shendu_pool(kind, len(shape) - 2)
        assert_close(generic(x, pool, strides, padding), fixed(x, pool, strides, padding).numpy(), atol=1e-12)
        assert gradcheck(lambda t: generic(t, pool, strides, padding), x)


@pytest.mark.parametrize("call, message", [
    (lambda: ops.max_pool2d(np.ones((1, 2, 2, 1)), 3), r"3x3 pool window is larger than the 2x2 input"),
    (lambda: ops.max_pool1d(np.ones((1, 2, 1)), 3), r"max_pool1d: the 3 pool window is larger than the 2 input"),
    (lambda: ops.avg_pool1d(np.ones((1, 8, 1)), 2, padding="causal"), r"unknown padding 'causal'"),
    (lambda: ops.max_pool3d(np.zeros((2, 4, 4, 3))), r"5-D input \(batch, depth, height, width, channels\)"),
    (lambda: ops.avg_pool2d(np.zeros((2, 4, 4)), 2), r"4-D input \(batch, height, width, channels\)"),
], ids=["window", "window-1d", "padding", "rank-3d", "rank-2d"])
def test_pooling_errors_name_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
