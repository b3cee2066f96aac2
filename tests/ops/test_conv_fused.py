"""shendu/ops/conv_fused.py: conv2d_act, Conv2D with its bias and ReLU in one op, against its composed form.

The oracle is ``relu(conv2d(x, K, bias))`` built from the primitives (and PyTorch's F.relu(F.conv2d)),
forward and every gradient, float64 (1e-10) and float32 (1e-5), on edge shapes, on each of Conv2D's
plans (one im2col, batch chunks, the shift form), with and without the compiled loops.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.keras import layers, models
from shendu.ops import conv as conv_module
from shendu.ops import compiled, conv_direct, conv_loops
from shendu.ops.conv_fused import conv2d_act
from shendu.testing import assert_close, gradcheck

try:
    import torch          # the oracle of one test only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None

# x shape, kernel shape (kh, kw, cin, cout), padding
CASES = [
    ((2, 8, 8, 1), (3, 3, 1, 4), "valid"),          # a grayscale first layer
    ((1, 7, 6, 5), (3, 3, 5, 3), "valid"),          # batch 1, odd sizes
    ((2, 6, 7, 3), (2, 2, 3, 2), "same"),           # even kernel, 'same': the pad goes after
    ((3, 5, 5, 2), (1, 3, 2, 4), "same"),           # size-1 kernel axis
]
DTYPES = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def arrays(x_shape, k_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(k_shape), rng.standard_normal(k_shape[-1:])


def composed(x, K, b, padding, activation, strides=1):
    y = ops.conv2d(x, K, b, strides, padding)
    return ops.relu(y) if activation == "relu" else y


def run(fn, values, gy, dtype):
    ts = [sd.tensor(v.astype(dtype), requires_grad=True) for v in values]
    y = fn(*ts)
    y.backward(gy.astype(dtype))
    return [y.numpy()] + [t.grad.numpy() for t in ts]


@pytest.fixture(params=["direct", "im2col"])
def form(request, monkeypatch):
    """A test taking it runs twice: first layers (no dx wanted) through conv_direct's loops where kh·kw·C ≤
    MAX_TERMS, and with those loops off (MAX_TERMS = 0). Layers whose input wants a gradient never take them."""
    if request.param == "im2col":
        monkeypatch.setattr(conv_direct, "MAX_TERMS", 0)
    return request.param


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("x_shape, k_shape, padding", CASES, ids=str)
def test_fused_matches_the_composed_ops(dtype, tol, activation, x_shape, k_shape, padding):
    values = arrays(x_shape, k_shape)
    out_shape = composed(*values, padding, "linear").shape
    gy = np.random.default_rng(1).standard_normal(out_shape)
    got = run(lambda x, K, b: conv2d_act(x, K, b, padding=padding, activation=activation), values, gy, dtype)
    expected = run(lambda x, K, b: composed(x, K, b, padding, activation), values, gy, dtype)
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, expected):
        assert g.dtype == dtype, f"{name} is {g.dtype}"
        assert_close(g, e, atol=tol, rtol=tol, name=name)


@pytest.mark.parametrize("mode, chunk", [("cols", 1), ("shift", 99), ("shift", 1)])
def test_fused_on_every_conv_plan(monkeypatch, mode, chunk):
    values = arrays((3, 7, 6, 4), (3, 3, 4, 2))
    gy = np.random.default_rng(2).standard_normal((3, 7, 6, 2))
    expected = run(lambda x, K, b: composed(x, K, b, "same", "relu"), values, gy, np.float64)
    monkeypatch.setattr(conv_module, "_plan", lambda x_shape, *rest: (mode, min(chunk, x_shape[0])))
    got = run(lambda x, K, b: conv2d_act(x, K, b, padding="same"), values, gy, np.float64)
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, expected):
        assert_close(g, e, atol=1e-10, name=f"{mode} {name}")


def test_fused_without_the_compiled_loops(monkeypatch):
    values = arrays((2, 6, 6, 3), (3, 3, 3, 4))
    gy = np.random.default_rng(3).standard_normal((2, 4, 4, 4))
    with_loops = run(lambda x, K, b: conv2d_act(x, K, b), values, gy, np.float32)
    monkeypatch.setitem(compiled._built, conv_loops.NAME, None)
    without = run(lambda x, K, b: conv2d_act(x, K, b), values, gy, np.float32)
    for g, e in zip(with_loops, without):
        assert_close(g, e, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("x_shape, k_shape, padding", CASES[1:3], ids=str)
def test_fused_gradcheck(activation, x_shape, k_shape, padding):
    x, K, b = arrays(x_shape, k_shape)
    b = b + 0.3       # shift the pre-activations off the ReLU kink a little
    assert gradcheck(lambda x, K, b: conv2d_act(x, K, b, padding=padding, activation=activation), x, K, b)


def test_fused_without_bias_and_strided():
    x, K, _ = arrays((2, 9, 8, 2), (3, 3, 2, 3))
    gy = np.random.default_rng(4).standard_normal((2, 5, 4, 3))
    got = run(lambda x, K: conv2d_act(x, K, None, strides=2, padding="same"), (x, K), gy, np.float64)
    expected = run(lambda x, K: ops.relu(ops.conv2d(x, K, None, 2, "same")), (x, K), gy, np.float64)
    for g, e in zip(got, expected):
        assert_close(g, e, atol=1e-10)


@pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")
def test_fused_against_torch():
    x, K, b = arrays((2, 9, 9, 3), (3, 3, 3, 5))
    gy = np.random.default_rng(5).standard_normal((2, 7, 7, 5))
    got = run(lambda x, K, b: conv2d_act(x, K, b), (x, K, b), gy, np.float32)
    tx, tK, tb = (torch.tensor(a.astype(np.float32), requires_grad=True) for a in (x, K, b))
    y = F.relu(F.conv2d(tx.permute(0, 3, 1, 2), tK.permute(3, 2, 0, 1), tb)).permute(0, 2, 3, 1)
    y.backward(torch.tensor(gy.astype(np.float32)))
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, (y, tx.grad, tK.grad, tb.grad)):
        assert_close(g, e.detach().numpy(), atol=1e-4, rtol=1e-4, name=name)


def test_fused_rejects_other_activations():
    with pytest.raises(ValueError, match="activation must be one of .*'relu'.*got 'tanh'"):
        conv2d_act(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), activation="tanh")


def test_conv2d_layer_fuses_only_what_it_can(rng):
    """A relu (or linear) Conv2D runs the fused op, strided or not; dilations and other activations keep the
    composed ops, all giving the same numbers."""
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    cases = [(dict(activation="relu"), "Conv2DAct"), (dict(), "Conv2DAct"),
             (dict(activation="relu", strides=2), "Conv2DAct"), (dict(activation="tanh"), "Conv2D"),
             (dict(activation="relu", dilation_rate=2), "Conv2D")]
    for kwargs, op in cases:
        layer = layers.Conv2D(4, 3, padding="same", **kwargs)
        model = models.Sequential([layers.Input((8, 8, 3)), layer])
        with sd.trace() as t:
            y = model(x)
        assert t.forward[0].op == op, kwargs
        K, b = (w.numpy() for w in layer.weights)
        z = ops.conv2d(x, K, b, layer.strides, "same", layer.dilation_rate).numpy()
        expected = {"relu": np.maximum(z, 0), "tanh": np.tanh(z)}.get(kwargs.get("activation"), z)
        assert_close(y, expected, atol=1e-5, name=str(kwargs))


@pytest.mark.parametrize("block_bytes", [1, 3000, 1 << 30])
def test_fused_forward_in_blocks_with_and_without_gradients(form, monkeypatch, block_bytes):
    """Blocks of one image, of a few (the last one short), or the whole batch: the same numbers, with
    the columns kept for backward or (under no_grad) not kept at all."""
    from shendu.ops import conv_fused
    monkeypatch.setattr(conv_fused, "BLOCK_BYTES", block_bytes)
    values = arrays((5, 7, 6, 3), (3, 3, 3, 4))
    gy = np.random.default_rng(6).standard_normal((5, 7, 6, 4))
    expected = run(lambda x, K, b: composed(x, K, b, "same", "relu"), values, gy, np.float64)
    got = run(lambda x, K, b: conv2d_act(x, K, b, padding="same"), values, gy, np.float64)
    for name, g, e in zip(("forward", "dx", "dK", "dbias"), got, expected):
        assert_close(g, e, atol=1e-10, name=name)
    with sd.no_grad():
        y = conv2d_act(*(sd.tensor(v, requires_grad=True) for v in values), padding="same")
    assert y.creator is None
    assert_close(y, expected[0], atol=1e-10, name="no_grad forward")


def test_fused_gradients_of_only_some_inputs(form, monkeypatch):
    """A first layer: x needs no gradient (no dx is built); a bias that needs none; blocks of two images."""
    from shendu.ops import conv_fused
    monkeypatch.setattr(conv_fused, "BLOCK_BYTES", 2 * 6 * 5 * (3 * 3 * 2 + 3) * 8)
    x, K, b = arrays((5, 8, 7, 2), (3, 3, 2, 3))
    gy = np.random.default_rng(7).standard_normal((5, 6, 5, 3))
    for grads in ((False, True, True), (True, True, False), (False, True, None)):
        ts = [sd.tensor(v, requires_grad=bool(g)) for v, g in zip((x, K, b), grads)]
        ref = [sd.tensor(v, requires_grad=bool(g)) for v, g in zip((x, K, b), grads)]
        bias, ref_bias = (None, None) if grads[2] is None else (ts[2], ref[2])
        conv2d_act(ts[0], ts[1], bias).backward(gy)
        ops.relu(ops.conv2d(ref[0], ref[1], ref_bias)).backward(gy)
        for t, e, g in zip(ts, ref, grads):
            assert (t.grad is None) == (not g)
            if g:
                assert_close(t.grad, e.grad, atol=1e-10)


@pytest.mark.parametrize("x_shape, k_shape, strides, padding", [((3, 9, 9, 1), (3, 3, 1, 4), 1, "valid"),
                                                                ((2, 10, 9, 3), (3, 3, 3, 5), 2, "same")], ids=str)
def test_first_layer_takes_the_direct_loops(x_shape, k_shape, strides, padding):
    """An input that needs no gradient (a first layer): conv_direct's loops, forward and gradients as the
    composed ops; gradcheck of K and bias through them."""
    x, K, b = arrays(x_shape, k_shape)
    y = conv2d_act(x, sd.tensor(K, requires_grad=True), b, strides, padding)
    assert y.creator.direct
    gy = np.random.default_rng(8).standard_normal(y.shape)
    got = run(lambda K, b: conv2d_act(x, K, b, strides, padding), (K, b), gy, np.float64)
    expected = run(lambda K, b: ops.relu(ops.conv2d(x, K, b, strides, padding)), (K, b), gy, np.float64)
    for name, g, e in zip(("forward", "dK", "dbias"), got, expected):
        assert_close(g, e, atol=1e-10, name=name)
    assert gradcheck(lambda K, b: conv2d_act(x, K, b + 0.3, strides, padding), K, b)
