"""shendu/ops/conv_direct.py: the direct convolution + activation + max pool loops of first layers, against
the plain backward (the whole convolution's gradient through im2col) and the composed ops; which layers
take it (few terms, no dx wanted); and that Conv2DActPool takes the im2col form where it does not apply."""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import compiled, conv_direct
from shendu.ops.conv import conv2d_inputs
from shendu.ops.conv_fused import conv2d_act_pool
from shendu.testing import assert_close, gradcheck

pytestmark = pytest.mark.skipif(compiled.build("probe", lambda numba: True) is None, reason="needs numba")

# x shape, kernel shape, strides, padding, pool: grayscale and RGB first layers, 5x5 kernels, leftovers, 'same'
# with an even kernel, a DCGAN discriminator's strided first layer (no pool)
CASES = [((3, 12, 12, 1), (3, 3, 1, 8), 1, "valid", (2, 2)), ((2, 9, 11, 3), (3, 3, 3, 5), 1, "same", (2, 2)),
         ((1, 13, 12, 1), (5, 5, 1, 6), 1, "valid", (3, 2)), ((2, 8, 8, 2), (2, 2, 2, 4), 1, "same", (1, 1)),
         ((2, 9, 10, 1), (4, 4, 1, 6), 2, "same", (1, 1)), ((1, 11, 9, 2), (3, 3, 2, 3), (2, 1), "valid", (1, 1))]


def window(x, K, padding, strides=1):
    return conv2d_inputs(sd.tensor(x), sd.tensor(K), None, strides, padding, 1)[3]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, pool", CASES, ids=str)
def test_direct_loops_against_the_plain_formula(dtype, tol, relu, x_shape, k_shape, strides, padding, pool):
    rng = np.random.default_rng(0)
    x, K = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(k_shape).astype(dtype)
    b = rng.standard_normal(k_shape[-1]).astype(dtype)
    w = window(x, K, padding, strides)
    assert conv_direct.applies(x, K, w, pool)
    xpad = ops.conv._pad(x, w.pads)
    y, arg = conv_direct.forward(xpad, K, b, relu, w, pool)
    z = ops.conv2d(x, K, b, strides, padding)
    composed = ops.max_pool2d(ops.relu(z) if relu else z, pool).numpy()
    assert_close(y, composed, atol=tol, rtol=tol, name="forward")
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = conv_direct.backward(xpad, K, gy, y, arg, relu, w, pool, True, True)
    expected = conv_direct.plain_backward(xpad, K, gy, y, arg, relu, w, pool, True, True)
    for name, g, e in zip(("dK", "dbias"), got, expected):
        assert g.dtype == dtype
        assert_close(g, e, atol=tol, rtol=tol, name=name)
    assert conv_direct.backward(xpad, K, gy, y, arg, relu, w, pool, True, False)[1] is None


def test_direct_form_split_over_threads_gives_the_one_thread_numbers(monkeypatch):
    """Each thread sums its own images' dK and dbias, added in image order: a fixed result for a fixed split."""
    rng = np.random.default_rng(1)
    x, K, b = rng.standard_normal((7, 10, 10, 1)), rng.standard_normal((3, 3, 1, 4)), rng.standard_normal(4)
    runs = []
    for split in (False, True):
        monkeypatch.setattr(compiled, "SPLIT", split)
        ts = [sd.tensor(v, requires_grad=i > 0) for i, v in enumerate((x, K, b))]
        y = conv2d_act_pool(*ts)
        y.backward(np.ones(y.shape))
        assert y.creator.direct
        runs.append([y.numpy()] + [t.grad.numpy() for t in ts[1:]])
    for one, split in zip(*runs):
        assert_close(split, one, atol=1e-12)


def test_which_layers_take_the_direct_form():
    rng = np.random.default_rng(2)
    x1, x32 = rng.standard_normal((2, 10, 10, 1)), rng.standard_normal((2, 10, 10, 32))
    K1, K32 = rng.standard_normal((3, 3, 1, 4)), rng.standard_normal((3, 3, 32, 64))
    assert conv_direct.applies(x1, K1, window(x1, K1, "valid"), (2, 2))
    assert not conv_direct.applies(x32, K32, window(x32, K32, "valid"), (2, 2))          # 288 terms: im2col
    assert not conv_direct.applies(x1, K1, window(x1, K1, "valid"), (5, 4))              # a pool of 20 cells
    assert not conv_direct.applies(x1.astype(np.int32), K1, window(x1, K1, "valid"), (2, 2))
    grad = lambda v: sd.tensor(v, requires_grad=True)                                    # noqa: E731
    assert conv2d_act_pool(x1, grad(K1)).creator.direct
    assert not conv2d_act_pool(grad(x1), grad(K1)).creator.direct       # dx wanted: im2col's GEMM gives it
    assert not conv2d_act_pool(x32, grad(K32)).creator.direct


def test_direct_pooled_gradcheck():
    """Finite differences of K and bias through the pooled direct loops (float64, a first layer's x)."""
    rng = np.random.default_rng(4)
    x, K, b = rng.standard_normal((2, 7, 8, 2)), rng.standard_normal((2, 3, 2, 3)), rng.standard_normal(3) + 0.3
    assert conv2d_act_pool(x, sd.tensor(K, requires_grad=True), b, "same").creator.direct
    assert gradcheck(lambda K, b: conv2d_act_pool(x, K, b, "same", "relu", (2, 2)), K, b)
