"""shendu/ops/conv_winograd.py: F(2×2, 3×3) for a 3×3 Conv2D + bias + activation, with a 2×2 max pool or not.

The transforms against the direct sum; each compiled tile loop against its plain NumPy form (the oracle)
over image ranges and tile offsets; the whole op (Conv2DActPool's and Conv2DAct's Winograd forms) against
the composed primitives max_pool2d(relu(conv2d)) and relu(conv2d) in float64 and float32, on edge shapes (batch 1, one filter, rows and
columns the pool drops, 'same' padding, blocks of one image or many, threads); a float64 gradcheck;
PyTorch; ties and NaNs; which layers take it.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import compiled, conv_fused, conv_winograd
from shendu.ops.conv import conv2d_inputs
from shendu.ops.conv_fused import conv2d_act, conv2d_act_pool
from shendu.testing import assert_close, gradcheck

from helpers import check_against_torch

try:
    import torch          # the oracle of one test only
    F = torch.nn.functional
except ImportError:
    torch = F = None

# x shape, kernel shape, padding: the tutorial's second layer (small), rows and columns the pool drops
# ('valid', odd sizes), 'same' with odd and even sizes, batch 1 with one filter, one window per image
CASES = [((3, 12, 12, 8), (3, 3, 8, 16), "valid"), ((2, 13, 11, 5), (3, 3, 5, 7), "valid"),
         ((2, 7, 8, 4), (3, 3, 4, 6), "same"), ((1, 6, 6, 4), (3, 3, 4, 1), "same"),
         ((2, 4, 5, 6), (3, 3, 6, 3), "valid")]
DTYPES = [pytest.param(np.float64, 1e-10, id="float64"), pytest.param(np.float32, 2e-5, id="float32")]


@pytest.fixture(autouse=True)
def small_layers_too(monkeypatch):
    """The tests' layers are small: let Winograd take them all (test_which_layers_take_winograd sets it back)."""
    monkeypatch.setattr(conv_winograd, "MIN_WIDTH", 0)


def arrays(x_shape, k_shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in (x_shape, k_shape, k_shape[-1:])]


def composed(x, K, b, padding, activation, pooled=True):
    """The oracle, from the primitives: max_pool2d(act(conv2d(x, K) + b), 2), or act(conv2d(x, K) + b)."""
    z = ops.conv2d(x, K, b, 1, padding)
    y = ops.relu(z) if activation == "relu" else z
    return ops.max_pool2d(y, 2) if pooled else y


def run(fn, values, gy, x_grad=True):
    ts = [sd.tensor(v, requires_grad=x_grad or i > 0) for i, v in enumerate(values)]
    y = fn(*ts)
    y.backward(gy)
    return [y.numpy()] + [t.grad.numpy() for t in ts if t.requires_grad], y


def test_the_transforms_make_a_correlation():
    """Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the 2×2 'valid' correlation of a 4×4 tile with a 3×3 kernel, exactly in
    rational arithmetic (here float64 to rounding); kernel_grad is kernel_transform's adjoint."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    BT, G, AT = (np.array(m, float) for m in (conv_winograd.BT, conv_winograd.G, conv_winograd.AT))
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[(d[i:i + 3, j:j + 3] * g).sum() for j in range(2)] for i in range(2)])
    assert_close(y, direct, atol=1e-13)
    K, dU = rng.standard_normal((3, 3, 2, 5)), rng.standard_normal((16, 2, 5))
    U = conv_winograd.kernel_transform(K)
    assert_close(U[:, 1, 4].reshape(4, 4), G @ K[:, :, 1, 4] @ G.T, atol=1e-14)
    assert np.isclose((U * dU).sum(), (K * conv_winograd.kernel_grad(dU)).sum(), rtol=1e-12)


COMPILED = conv_winograd.kernels() is not None     # the Winograd form runs only with its compiled loops
needs_numba = pytest.mark.skipif(not COMPILED, reason="needs numba")


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("th, tw, F", [(5, 5, 16), (3, 2, 1), (1, 4, 7)])
def test_compiled_loops_against_the_plain_forms(dtype, th, tw, F):
    """Each loop over a range of images (not the first) into an offset of its tile array, as the passes call
    them, against the NumPy form; what lies outside the range is left as it was."""
    rng = np.random.default_rng(1)
    n, C, n0, n1, t0 = 4, 5, 1, 3, 3
    k, tol = conv_winograd.kernels(), (1e-12 if dtype == np.float64 else 1e-5)
    in_at, in_sign, grad, back_at, back_sign = conv_winograd._tables(dtype)
    rows = t0 + (n1 - n0) * th * tw
    x = rng.standard_normal((n, 2 * th + 3, 2 * tw + 2, C)).astype(dtype)      # a row past the tiles
    got, want = (np.full((16, rows + 2, C), 7.0, dtype) for _ in range(2))
    k["input_tiles"](x, th, tw, n0, n1, got, t0, in_at, in_sign)
    conv_winograd.plain_input_tiles(x, th, tw, n0, n1, want, t0, in_at, in_sign)
    assert_close(got, want, atol=tol, name="input_tiles")

    M, bias = rng.standard_normal((16, rows, F)).astype(dtype), rng.standard_normal(F).astype(dtype)
    for relu in (True, False):
        outs = [(np.full((n, th, tw, F), 7.0, dtype), np.full((n, th, tw, F), 9, np.uint8)) for _ in range(2)]
        k["output_pool"](M, t0, bias, relu, *outs[0], n0, n1)
        conv_winograd.plain_output_pool(M, t0, bias, relu, *outs[1], n0, n1)
        assert_close(outs[0][0], outs[1][0], atol=tol, name="output_pool")
        np.testing.assert_array_equal(outs[0][1], outs[1][1])

        gy, y = rng.standard_normal((2, n, th, tw, F)).astype(dtype)
        arg = rng.integers(0, 4, (n, th, tw, F)).astype(np.uint8)
        dMs, gbs = [np.full((16, rows, F), 7.0, dtype) for _ in range(2)], [np.ones(F, dtype) for _ in range(2)]
        k["grad_tiles"](gy, arg, y, relu, grad, np.empty(F, dtype), dMs[0], t0, n0, n1, gbs[0])
        conv_winograd.plain_grad_tiles(gy, arg, y, relu, grad, None, dMs[1], t0, n0, n1, gbs[1])
        np.testing.assert_array_equal(dMs[0], dMs[1])       # ±g and 0: exact either way
        assert_close(gbs[0], gbs[1], atol=tol, name="dbias")

    for oh, ow in ((2 * th, 2 * tw), (2 * th - 1, 2 * tw - 1)):       # unpooled outputs, even or odd
        for relu in (True, False):
            ys = [np.full((n, oh, ow, F), 7.0, dtype) for _ in range(2)]
            k["output_act"](M, t0, bias, relu, ys[0], n0, n1)
            conv_winograd.plain_output_act(M, t0, bias, relu, ys[1], n0, n1)
            assert_close(ys[0], ys[1], atol=tol, name="output_act")
            assert (ys[0][[0, 3]] == 7).all()

            gy, y = rng.standard_normal((2, n, oh, ow, F)).astype(dtype)
            dMs, gbs = [np.full((16, rows, F), 7.0, dtype) for _ in range(2)], [np.ones(F, dtype) for _ in range(2)]
            k["grad_act_tiles"](gy, y, relu, grad, np.empty((4, F), dtype), dMs[0], t0, n0, n1, gbs[0])
            conv_winograd.plain_grad_act_tiles(gy, y, relu, grad, None, dMs[1], t0, n0, n1, gbs[1])
            assert_close(dMs[0], dMs[1], atol=tol, name="grad_act_tiles")
            assert_close(gbs[0], gbs[1], atol=tol, name="dbias")

    dV = rng.standard_normal((16, rows, C)).astype(dtype)
    gxs = [np.full((n, 2 * th + 3, 2 * tw + 2, C), 7.0, dtype) for _ in range(2)]
    k["input_grad"](dV, t0, gxs[0], th, tw, n0, n1, back_at, back_sign, np.empty((16, C), dtype))
    conv_winograd.plain_input_grad(dV, t0, gxs[1], th, tw, n0, n1, back_at, back_sign, None)
    assert_close(gxs[0], gxs[1], atol=tol, name="input_grad")
    assert (gxs[0][[0, 3]] == 7).all() and not gxs[0][n0:n1, -1].any()     # others untouched; past the tiles 0


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("x_shape, k_shape, padding", CASES, ids=str)
def test_winograd_matches_the_composed_ops(dtype, tol, activation, x_shape, k_shape, padding):
    values = arrays(x_shape, k_shape, dtype=dtype)
    gy = np.random.default_rng(1).standard_normal(composed(*values, padding, activation).shape).astype(dtype)
    got, y = run(lambda x, K, b: conv2d_act_pool(x, K, b, padding, activation), values, gy)
    expected, _ = run(lambda x, K, b: composed(x, K, b, padding, activation), values, gy)
    assert y.creator.winograd == COMPILED
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, expected):
        assert g.dtype == dtype, f"{name} is {g.dtype}"
        assert_close(g, e, atol=tol, rtol=tol, name=name)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("x_shape, k_shape, padding", CASES + [((2, 3, 3, 4), (3, 3, 4, 2), "valid")], ids=str)
def test_unpooled_winograd_matches_the_composed_ops(dtype, tol, activation, x_shape, k_shape, padding):
    """A Conv2D with no pool after it (conv2d_act, what a relu or linear Conv2D layer runs): odd outputs have
    last tiles that reach past the input (read as zeros, their outputs past the edge dropped)."""
    values = arrays(x_shape, k_shape, dtype=dtype)
    fused = lambda x, K, b: conv2d_act(x, K, b, 1, padding, 1, activation)                  # noqa: E731
    gy = np.random.default_rng(1).standard_normal(composed(*values, padding, activation, False).shape).astype(dtype)
    got, y = run(fused, values, gy)
    expected, _ = run(lambda x, K, b: composed(x, K, b, padding, activation, False), values, gy)
    assert y.creator.winograd == COMPILED
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, expected):
        assert g.dtype == dtype, f"{name} is {g.dtype}"
        assert_close(g, e, atol=tol, rtol=tol, name=name)


@pytest.mark.parametrize("block_bytes, split", [(1, False), (20000, True), (1 << 30, True)])
def test_winograd_in_blocks_and_threads(monkeypatch, block_bytes, split):
    """Blocks of one image, a few (the last one short) or the whole batch, on one thread or split over images:
    the composed numbers (dK and dbias are summed part by part)."""
    monkeypatch.setattr(conv_winograd, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(compiled, "SPLIT", split)
    if split:                                   # three uneven parts, whatever the machine's cores
        monkeypatch.setattr(compiled, "threads", lambda: 3)
        monkeypatch.setattr(compiled, "MIN_PART_WORK", 1)
    values = arrays((7, 10, 9, 6), (3, 3, 6, 5))
    gy = np.random.default_rng(2).standard_normal((7, 4, 3, 5))
    got, y = run(lambda x, K, b: conv2d_act_pool(x, K, b, "valid"), values, gy)
    expected, _ = run(lambda x, K, b: composed(x, K, b, "valid", "relu"), values, gy)
    for g, e in zip(got, expected):
        assert_close(g, e, atol=1e-10)


def test_winograd_falls_back_without_the_compiled_loops(monkeypatch):
    """Without numba the im2col form runs (the plain tile loops are the tests' oracle, slower than it); where
    numba fails to compile a loop, its plain form runs in its place. The same numbers to rounding."""
    values = arrays((3, 9, 8, 4), (3, 3, 4, 6), dtype=np.float32)
    gy = np.random.default_rng(3).standard_normal((3, 4, 4, 6)).astype(np.float32)
    fused = lambda x, K, b: conv2d_act_pool(x, K, b, "same")                      # noqa: E731
    expected, _ = run(lambda x, K, b: composed(x, K, b, "same", "relu"), values, gy)
    with monkeypatch.context() as patch:
        patch.setitem(compiled._built, conv_winograd.NAME, None)
        got, y = run(fused, values, gy)
        assert not y.creator.winograd
    for g, e in zip(got, expected):
        assert_close(g, e, atol=2e-5)
    if COMPILED:
        monkeypatch.setattr(compiled, "call", lambda name, kernel, *args: False)   # every compile fails
        got, y = run(fused, values, gy)
        assert y.creator.winograd
        for g, e in zip(got, expected):
            assert_close(g, e, atol=2e-5)


@needs_numba
@pytest.mark.parametrize("pooled", [True, False])
def test_part_kernels_match_the_loop_by_loop_steps(monkeypatch, pooled):
    """forward_part and backward_part (a thread's share in one compiled call) against the same steps run loop by
    loop from Python, as they run when numba cannot compile a part: the same numbers."""
    monkeypatch.setattr(conv_winograd, "BLOCK_BYTES", 20000)             # several blocks, the last one short
    values = arrays((5, 9, 8, 6), (3, 3, 6, 5), seed=10, dtype=np.float32)
    op = (lambda x, K, b: conv2d_act_pool(x, K, b, "same")) if pooled else \
        (lambda x, K, b: conv2d_act(x, K, b, 1, "same"))                                       # noqa: E731
    with sd.no_grad():
        shape = op(*values).shape
    gy = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    with_parts, _ = run(op, values, gy)
    k, call = conv_winograd.kernels(), compiled.call
    monkeypatch.setattr(compiled, "call", lambda name, kernel, *args: False if kernel in (
        k["forward_part"], k["backward_part"]) else call(name, kernel, *args))
    by_loops, y = run(op, values, gy)
    assert y.creator.winograd
    for g, e in zip(with_parts, by_loops):
        assert_close(g, e, atol=1e-5)


def test_winograd_gradcheck():
    """Finite differences of x, K and bias through the Winograd form (float64, 'same', a dropped column)."""
    x, K, b = arrays((2, 6, 7, 4), (3, 3, 4, 3), seed=4)
    assert conv2d_act_pool(x, sd.tensor(K, requires_grad=True), b, "same").creator.winograd == COMPILED
    assert gradcheck(lambda x, K, b: conv2d_act_pool(x, K, b, "same", "relu"), x, K, b + 0.3)


def test_unpooled_winograd_gradcheck():
    """Finite differences of x, K and bias through the unpooled form, an odd output (float64, 'valid')."""
    x, K, b = arrays((2, 7, 6, 4), (3, 3, 4, 3), seed=9)
    assert conv2d_act(x, sd.tensor(K, requires_grad=True), b).creator.winograd == COMPILED
    assert gradcheck(lambda x, K, b: conv2d_act(x, K, b, 1, "valid", 1, "relu"), x, K, b + 0.3)


def test_winograd_without_bias_or_input_gradient():
    """No bias; a layer whose input wants no gradient (dK and dbias only); no gradient at all (predict)."""
    x, K, b = arrays((2, 8, 8, 4), (3, 3, 4, 5), seed=5)
    gy = np.random.default_rng(5).standard_normal((2, 3, 3, 5))
    got, y = run(lambda x, K: conv2d_act_pool(x, K), [x, K], gy, x_grad=False)
    expected, _ = run(lambda x, K: composed(x, K, None, "valid", "relu"), [x, K], gy, x_grad=False)
    assert y.creator.winograd == COMPILED and not y.creator.direct
    for g, e in zip(got, expected):
        assert_close(g, e, atol=1e-10)
    with sd.no_grad():
        y = conv2d_act_pool(sd.tensor(x), sd.tensor(K, requires_grad=True), b)
    assert y.creator is None
    assert_close(y, composed(x, K, b, "valid", "relu"), atol=1e-10)


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_winograd_against_torch():
    x, K, b = arrays((3, 11, 10, 8), (3, 3, 8, 12), seed=6)

    def ref(x, K, b):
        z = F.conv2d(x.permute(0, 3, 1, 2), K.permute(3, 2, 0, 1), b)
        return F.max_pool2d(F.relu(z), 2).permute(0, 2, 3, 1)
    check_against_torch(lambda x, K, b: conv2d_act_pool(x, K, b), ref, (x, K, b), np.float64, 1e-10)
    check_against_torch(lambda x, K, b: conv2d_act_pool(x, K, b), ref, (x, K, b), np.float32, 1e-4)

    def unpooled(x, K, b):
        return F.relu(F.conv2d(x.permute(0, 3, 1, 2), K.permute(3, 2, 0, 1), b, padding=1)).permute(0, 2, 3, 1)
    check_against_torch(lambda x, K, b: conv2d_act(x, K, b, 1, "same"), unpooled, (x, K, b), np.float64, 1e-10)
    check_against_torch(lambda x, K, b: conv2d_act(x, K, b, 1, "same"), unpooled, (x, K, b), np.float32, 1e-4)


def test_ties_and_nans_follow_max_pool():
    """Equal outputs in a window (a zero input: each is the bias) send the gradient to the first, as max_pool2d;
    a NaN input gives NaN outputs where it reaches, as the composed ops."""
    K, b = arrays((1, 6, 6, 4), (3, 3, 4, 2), seed=7)[1:]
    x = np.zeros((1, 6, 6, 4))
    got, _ = run(lambda x, K, b: conv2d_act_pool(x, K, b + 1), [x, K, b], np.ones((1, 2, 2, 2)))
    expected, _ = run(lambda x, K, b: composed(x, K, b + 1, "valid", "relu"), [x, K, b], np.ones((1, 2, 2, 2)))
    for g, e in zip(got, expected):
        assert_close(g, e, atol=1e-12)
    x[0, 0, 0, 0] = np.nan
    with sd.no_grad():
        y = conv2d_act_pool(x, K, b, activation="linear").numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(composed(x, K, b, "valid", "linear").numpy()))


def test_which_layers_take_winograd(monkeypatch):
    """3×3 kernels, stride 1, undilated, a 2×2 pool or none, channels and filters wide enough (C·F > MIN_WIDTH·
    (C + F)), and the switch on; else the im2col form (or conv_direct's loops for a first layer)."""
    monkeypatch.setattr(conv_winograd, "MIN_WIDTH", 8)
    rng = np.random.default_rng(8)
    grad = lambda v: sd.tensor(v, requires_grad=True)                                # noqa: E731
    x32, x4, x2 = (rng.standard_normal((2, 10, 10, c)) for c in (32, 4, 2))
    K3, K5 = rng.standard_normal((3, 3, 32, 64)), rng.standard_normal((5, 5, 32, 64))
    assert conv2d_act_pool(grad(x32), grad(K3)).creator.winograd == COMPILED         # the tutorial's second
    assert not conv2d_act_pool(grad(x32), grad(K5)).creator.winograd                 # 5×5
    assert not conv2d_act_pool(grad(x32), grad(K3), pool_size=3).creator.winograd    # a 3×3 pool
    assert not conv2d_act_pool(grad(x32), grad(K3[..., :8])).creator.winograd        # 32 -> 8: too narrow
    assert not conv2d_act_pool(grad(x4), grad(K3[:, :, :4, :16])).creator.winograd   # 4 -> 16
    assert conv2d_act_pool(x2, grad(K3[:, :, :2, :8])).creator.direct                # a first layer's loops
    assert conv2d_act(grad(x32), grad(K3), padding="same").creator.winograd == COMPILED  # no pool
    assert not conv2d_act(grad(x32), grad(K3), strides=2).creator.winograd            # stride 2
    assert not conv2d_act(grad(x32), grad(K3), dilation_rate=2).creator.winograd      # dilated
    w = conv2d_inputs(sd.tensor(x32), sd.tensor(K3), None, 2, "valid", 1)[3]
    assert not conv_winograd.applies(x32, K3, w, (2, 2))                             # stride 2
    monkeypatch.setattr(conv_winograd, "enabled", False)                             # SHENDU_WINOGRAD=0
    assert not conv2d_act_pool(grad(x32), grad(K3)).creator.winograd


def test_sequential_trains_through_winograd_as_the_layers_apart(rng):
    """A Sequential's Conv2D(relu) + MaxPooling2D pair on 8 channels runs Winograd; three Adam steps give the
    two-layer weights to float32 rounding."""
    from shendu.keras import layers, models
    x = rng.standard_normal((6, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 3, 6)
    runs = []
    for fuse in (True, False):
        sd.utils.set_random_seed(4)
        model = models.Sequential([layers.Input((12, 12, 3)), layers.Conv2D(8, 3, activation="relu"),
                                   layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                                   layers.Dense(3, activation="softmax")])
        model.fuse_conv_pool = fuse
        model.compile("adam", "sparse_categorical_crossentropy")
        with sd.trace() as t:
            model(x)
        fused = [e for e in t.forward if e.op == "Conv2DActPool"]
        assert len(fused) == (1 if fuse else 0)
        for _ in range(3):
            model.train_on_batch(x, y)
        runs.append([w.numpy() for w in model.weights])
    for got, expected in zip(*runs):
        assert_close(got, expected, atol=2e-5)
    assert conv_fused.Conv2DActPool.winograd is False      # a class default: each op sets its own
