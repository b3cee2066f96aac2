"""shendu/ops/conv_fused.py: conv2d_act_pool, Conv2D + bias + ReLU + a tiling max pool in one op, against
its composed form max_pool2d(relu(conv2d(...))) (and PyTorch's max_pool2d(relu(conv2d))), and the Sequential
that runs a Conv2D and the MaxPooling2D after it through it.

Forward and every gradient: float64 and float32, edge shapes (batch 1, one channel, rows and columns left
over by the pool, 'same' with an even kernel, non-square pools), blocks of one image or a few, with and
without the compiled loops, and the composed fallback where the fused form cannot run.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.keras import layers, models
from shendu.ops import compiled, conv_direct, conv_fused, conv_loops
from shendu.ops import conv as conv_module
from shendu.ops.conv_fused import conv2d_act_pool
from shendu.testing import assert_close, gradcheck

from helpers import check_against_torch

try:
    import torch          # the oracle of one test only
    F = torch.nn.functional
except ImportError:
    torch = F = None

# x shape, kernel shape (kh, kw, cin, cout), padding, pool size
CASES = [
    ((2, 8, 8, 1), (3, 3, 1, 4), "valid", (2, 2)),      # a grayscale first layer, pooled exactly
    ((1, 9, 10, 3), (3, 3, 3, 5), "valid", (2, 2)),     # batch 1; 7x8 output: one row left over
    ((3, 7, 6, 2), (2, 2, 2, 3), "same", (2, 2)),       # even kernel, 'same'; one row left over
    ((2, 9, 8, 2), (3, 3, 2, 3), "same", (3, 2)),       # a non-square pool, rows and columns left over
    ((2, 6, 6, 2), (1, 1, 2, 2), "valid", (3, 3)),      # 1x1 kernel, 3x3 pool
    ((2, 5, 5, 4), (3, 3, 4, 6), "valid", (2, 2)),      # one window per image, a row and a column left over
]
DTYPES = [pytest.param(np.float32, 1e-5, id="float32"), pytest.param(np.float64, 1e-10, id="float64")]


def arrays(x_shape, k_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(k_shape), rng.standard_normal(k_shape[-1:])


def composed(x, K, b, padding, activation, pool):
    """The oracle, from the primitives: max_pool2d(relu(conv2d(x, K) + b))."""
    z = ops.conv2d(x, K, b, 1, padding)
    return ops.max_pool2d(ops.relu(z) if activation == "relu" else z, pool)


def run(fn, values, gy, dtype, x_grad=True):
    """fn's output and the gradients of its inputs (x's only when ``x_grad``: a first layer's input needs none)."""
    ts = [sd.tensor(v.astype(dtype), requires_grad=x_grad or i > 0) for i, v in enumerate(values)]
    y = fn(*ts)
    y.backward(gy.astype(dtype))
    return [y.numpy()] + [t.grad.numpy() for t in ts if t.requires_grad], y


def check(values, padding, activation, pool, dtype, tol, seed=1, x_grad=True):
    out_shape = composed(*values, padding, activation, pool).shape
    gy = np.random.default_rng(seed).standard_normal(out_shape)
    got, y = run(lambda x, K, b: conv2d_act_pool(x, K, b, padding, activation, pool), values, gy, dtype, x_grad)
    expected, _ = run(lambda x, K, b: composed(x, K, b, padding, activation, pool), values, gy, dtype, x_grad)
    names = ("forward", "dx", "dK", "dbias") if x_grad else ("forward", "dK", "dbias")
    for name, g, e in zip(names, got, expected):
        assert g.dtype == dtype, f"{name} is {g.dtype}"
        assert_close(g, e, atol=tol, rtol=tol, name=name)
    return y


@pytest.mark.parametrize("form", ["first layer", "inner layer", "blocked first layer"])
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("x_shape, k_shape, padding, pool", CASES, ids=str)
def test_fused_pool_matches_the_composed_ops(monkeypatch, form, dtype, tol, activation, x_shape, k_shape, padding,
                                             pool):
    """Each form: a first layer (no dx) runs conv_direct's loops where kh·kw·C ≤ MAX_TERMS, an inner layer (dx
    wanted) or a wider one the blocked im2col products; and a first layer with the direct loops off."""
    if form == "blocked first layer":
        monkeypatch.setattr(conv_direct, "MAX_TERMS", 0)
    first = form != "inner layer"
    y = check(arrays(x_shape, k_shape), padding, activation, pool, dtype, tol, x_grad=not first)
    assert type(y.creator).__name__ == "Conv2DActPool"
    assert y.creator.direct == (form == "first layer" and np.prod(k_shape[:3]) <= conv_direct.MAX_TERMS)


@pytest.mark.parametrize("block_bytes", [1, 3000, 1 << 30])
def test_fused_pool_in_blocks(monkeypatch, block_bytes):
    """Blocks of one image, of a few (the last one short), or the whole batch: the same numbers."""
    monkeypatch.setattr(conv_fused, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(conv_direct, "MAX_TERMS", 0)
    check(arrays((5, 9, 8, 3), (3, 3, 3, 4)), "same", "relu", (2, 2), np.float64, 1e-10)


def test_fused_pool_without_the_compiled_loops(monkeypatch):
    """The NumPy forms of the pooled epilogue and its gradient give the compiled loops' numbers."""
    monkeypatch.setattr(conv_direct, "MAX_TERMS", 0)
    values = arrays((3, 9, 8, 3), (3, 3, 3, 4))
    gy = np.random.default_rng(3).standard_normal((3, 3, 3, 4))
    fused = lambda x, K, b: conv2d_act_pool(x, K, b, "valid", "relu", (2, 2))     # noqa: E731
    with_loops, _ = run(fused, values, gy, np.float32)
    monkeypatch.setitem(compiled._built, conv_loops.NAME, None)
    without, y = run(fused, values, gy, np.float32)
    assert type(y.creator).__name__ == "Conv2DActPool"
    for g, e in zip(with_loops, without):
        assert_close(g, e, atol=1e-5)


def test_pool_epilogue_ties_and_nans_as_max_pool():
    """Ties go to the window's first maximum (PyTorch's rule), a NaN wins the maximum and ReLU turns it to 0,
    in both the compiled loop and the NumPy form, as bias_relu then max_pool2d do."""
    z = np.zeros((1, 4, 4, 2), np.float32)
    z[0, 0, 1, 0] = z[0, 1, 0, 0] = 3.0          # a tie in the first window: offset 1 wins
    z[0, 2, 3, 1] = np.nan                       # a NaN in the last window of channel 1
    z[0, 3, 2, 1] = 5.0
    for built in (True, False):
        saved = compiled._built.get(conv_loops.NAME)
        if not built:
            compiled._built[conv_loops.NAME] = None
        try:
            for relu in (True, False):
                y, arg = np.empty((1, 2, 2, 2), np.float32), np.empty((1, 2, 2, 2), np.uint8)
                conv_loops.bias_act_pool(z, None, relu, (2, 2), y, arg)
                assert arg[0, 0, 0, 0] == 1 and y[0, 0, 0, 0] == 3.0
                assert arg[0, 1, 1, 1] == 1                 # the NaN at (2, 3): row 0, column 1 of its window
                assert (y[0, 1, 1, 1] == 0) if relu else np.isnan(y[0, 1, 1, 1])
        finally:
            compiled._built[conv_loops.NAME] = saved


@pytest.mark.parametrize("mode, chunk", [("cols", 1), ("shift", 99)])
def test_fused_pool_falls_back_to_the_composed_ops(monkeypatch, mode, chunk):
    """A chunked batch or the shift form: conv2d_act_pool is conv2d_act then max_pool2d, same numbers."""
    values = arrays((3, 7, 6, 4), (3, 3, 4, 2))
    expected = composed(*values, "same", "relu", (2, 2)).numpy()
    monkeypatch.setattr(conv_module, "_plan", lambda x_shape, *rest: (mode, min(chunk, x_shape[0])))
    y = conv2d_act_pool(*(sd.tensor(v, requires_grad=True) for v in values), "same", "relu", (2, 2))
    assert type(y.creator).__name__ == "MaxPool"
    assert_close(y, expected, atol=1e-10)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_fused_pool_gradcheck(activation):
    x, K, b = arrays((2, 7, 6, 2), (2, 2, 2, 3))
    b = b + 0.3
    assert gradcheck(lambda x, K, b: conv2d_act_pool(x, K, b, "same", activation, (2, 2)), x, K, b)


def test_fused_pool_without_bias_and_without_gradients():
    x, K, _ = arrays((2, 8, 8, 2), (3, 3, 2, 3))
    expected = composed(x, K, None, "valid", "relu", (2, 2)).numpy()
    got = conv2d_act_pool(x, K, None, "valid", "relu", 2)
    assert_close(got, expected, atol=1e-10)
    with sd.no_grad():
        y = conv2d_act_pool(sd.tensor(x, requires_grad=True), K, None, "valid", "relu", 2)
    assert y.creator is None
    assert_close(y, expected, atol=1e-10)


@pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")
def test_fused_pool_against_torch():
    """max_pool2d(relu(conv2d)) in PyTorch (NCHW, kernel (out, in, kh, kw)): output and every gradient."""
    def ref(x, K, b):
        z = F.relu(F.conv2d(x.permute(0, 3, 1, 2), K.permute(3, 2, 0, 1), b))
        return F.max_pool2d(z, 2).permute(0, 2, 3, 1)
    check_against_torch(lambda x, K, b: conv2d_act_pool(x, K, b, "valid", "relu", 2),
                        ref, arrays((2, 11, 11, 3), (3, 3, 3, 5)), np.float32, 1e-4)


def test_fused_pool_rejects_other_activations():
    with pytest.raises(ValueError, match="activation must be one of .*'relu'.*got 'tanh'"):
        conv2d_act_pool(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), activation="tanh")


# ---------------------------------------------------------------- Sequential runs Conv2D + MaxPooling2D fused


def cnn(**pool):
    return models.Sequential([layers.Input((12, 12, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(2, **pool), layers.Conv2D(6, 3), layers.MaxPooling2D(2),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])


def test_sequential_fuses_conv_and_pool_with_the_same_training(rng):
    """The tutorial CNN's pairs run as Conv2DActPool, and training gives the two-layer weights."""
    x = rng.standard_normal((8, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 3, 8)
    runs = []
    for fuse in (True, False):
        sd.utils.set_random_seed(3)
        model = cnn()
        model.fuse_conv_pool = fuse
        model.compile("adam", "sparse_categorical_crossentropy")
        with sd.trace() as t:
            model(x)
        ops_run = [e.op for e in t.forward]
        assert ops_run.count("Conv2DActPool") == (2 if fuse else 0), ops_run
        assert ops_run.count("MaxPool") == (0 if fuse else 2), ops_run
        for _ in range(3):
            model.train_on_batch(x, y)
        runs.append([w.numpy() for w in model.weights] + [model.predict(x, verbose=0)])
    for got, expected in zip(*runs):
        assert_close(got, expected, atol=1e-6)


def test_sequential_fuses_only_what_it_can(rng):
    """Overlapping or 'same' pools, strides, other activations, an activity regularizer, a subclass: two
    layers, as before."""
    x = rng.standard_normal((2, 12, 12, 1)).astype("float32")
    unfused = [cnn(strides=1), cnn(padding="same")]
    for kwargs in (dict(strides=2), dict(activation="tanh"), dict(activity_regularizer="l2")):
        unfused.append(models.Sequential([layers.Input((12, 12, 1)), layers.Conv2D(4, 3, **kwargs),
                                          layers.MaxPooling2D(2)]))

    class MyConv(layers.Conv2D):
        pass
    unfused.append(models.Sequential([layers.Input((12, 12, 1)), MyConv(4, 3), layers.MaxPooling2D(2)]))
    for model in unfused:
        with sd.trace() as t:
            model(x)
        assert "Conv2DActPool" not in [e.op for e in t.forward[:2]], [layer.get_config() for layer in model.layers]
        assert "MaxPool" in [e.op for e in t.forward]
    layer = layers.Conv2D(4, 3)
    assert not layer.fuses_pool(layers.AveragePooling2D(2))
    assert layer.fuses_pool(layers.MaxPooling2D(2))


def test_fused_pair_keeps_layer_shapes_and_symbolic_build():
    """A symbolic build (summary, output shapes) still walks both layers; eager calls give those shapes."""
    model = cnn()
    assert model.output_shape == (None, 3)
    assert model.layers[1].output.shape == (None, 5, 5, 4)
    out = model(np.zeros((2, 12, 12, 1), np.float32))
    assert out.shape == (2, 3)


def test_functional_fuses_a_conv_and_the_pool_that_alone_reads_it(rng):
    """Input -> Conv2D -> MaxPooling2D runs fused; a conv output that a second layer (or the outputs) also
    reads runs as two layers. Both give the two-layer numbers."""
    x = rng.standard_normal((3, 10, 10, 2)).astype("float32")
    inputs = layers.Input((10, 10, 2))
    conv = layers.Conv2D(4, 3, activation="relu")
    pooled = layers.MaxPooling2D(2)(conv(inputs))
    chain = models.Model(inputs, layers.Flatten()(pooled))
    c2 = layers.Conv2D(4, 3)(inputs)
    shared = models.Model(inputs, [layers.MaxPooling2D(2)(c2), layers.GlobalAveragePooling2D()(c2)])
    for model, fused in ((chain, True), (shared, False)):
        with sd.trace() as t:
            got = model(x)
        assert ("Conv2DActPool" in [e.op for e in t.forward]) == fused
        model.fuse_conv_pool = False
        with sd.trace() as t:
            expected = model(x)
        assert "Conv2DActPool" not in [e.op for e in t.forward]
        listed = lambda out: out if isinstance(out, list) else [out]     # noqa: E731
        for g, e in zip(listed(got), listed(expected)):
            assert_close(g, e, atol=1e-6)


def test_rows_the_pool_drops_are_never_computed():
    """'valid' convolution whose last output row and column the pool drops (11x11 -> 5x5): the fused op gets
    the input those outputs do not read cut away (12x12 of 13x13), and that input's gradient is zero."""
    x, K, b = arrays((2, 13, 13, 3), (3, 3, 3, 4))
    ts = [sd.tensor(v, requires_grad=True) for v in (x, K, b)]
    y = conv2d_act_pool(*ts, "valid", "relu", (2, 2))
    assert y.shape == (2, 5, 5, 4) and y.creator.inputs[0].shape == (2, 12, 12, 3)
    y.backward(np.ones(y.shape))
    assert not ts[0].grad.numpy()[:, 12:].any() and not ts[0].grad.numpy()[:, :, 12:].any()
    check((x, K, b), "valid", "relu", (2, 2), np.float64, 1e-10)
