"""The compiled im2col / col2im of shendu/ops/conv_kernels.py against the plain formula.

col2im is the transposed convolution's forward and Conv2D's input gradient; im2col (padding implicit)
is the transposed convolution's backward. The plain formula is the definition, one window at a time:
    col2im:  g[n, i*s + a*d - top, j*s + b*d - left, c] += cols[n, i, j, a, b, c]
    im2col:  cols[n, i, j, a, b, c] = x_pad[n, i*s + a*d, j*s + b*d, c]
Each kernel must give it (float64 to 1e-10, float32 to 1e-5) at edge shapes (col2im: the plain NumPy
passes' numbers exactly), the ops must give the same values and gradients with the kernels as without
them, and without numba the plain forms must run.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops import conv as conv_module
from shendu.ops import compiled, conv_kernels, transposed_conv
from shendu.testing import assert_close, gradcheck

pytest.importorskip("numba")

# input (n, h, w, c), kernel (kh, kw), strides, padding, dilation: windows of a Conv2D
CONV_WINDOWS = [
    ((1, 5, 5, 3), (3, 3), 1, "same", 1),           # batch 1
    ((2, 7, 6, 4), (4, 4), 2, "same", 1),           # even kernel, stride 2: the pad after is the odd one
    ((2, 9, 7, 2), (3, 2), 3, "valid", 1),          # stride 3, odd sizes, the last rows never covered
    ((3, 8, 9, 5), (3, 3), (2, 1), "same", 2),      # dilation, non-square stride
    ((2, 14, 14, 8), (4, 4), 2, "same", 1),         # the DCGAN discriminator's shape, scaled down
    ((1, 1, 6, 3), (1, 3), 1, "valid", 1),          # a size-1 axis (conv1d's height)
]
# input (n, h, w, cin), kernel (kh, kw, cout, cin), strides, padding, output_padding, dilation: Conv2DTranspose
TRANSPOSE = [
    ((1, 3, 4, 3), (3, 3, 2, 3), 1, "valid", None, 1),
    ((2, 7, 7, 6), (4, 4, 4, 6), 2, "same", None, 1),       # the DCGAN generator's shape, scaled down
    ((2, 3, 5, 2), (2, 2, 3, 2), 3, "valid", None, 1),      # kernel smaller than stride: gaps of zeros
    ((2, 4, 3, 3), (3, 2, 2, 3), (2, 3), "same", (1, 2), 1),  # output_padding, non-square
    ((1, 4, 4, 2), (3, 3, 3, 2), 2, "valid", 1, 2),         # dilation with output_padding
    ((2, 5, 4, 2), (4, 4, 2, 2), 2, "same", None, 1),       # odd input, even kernel
    ((2, 7, 7, 4), (4, 4, 1, 4), 2, "same", None, 1),       # one output channel: the generator's last layer
]
DTYPES = [(np.float64, 1e-10), (np.float32, 1e-5)]


def conv_window(x_shape, k, strides, padding, dilation):
    return conv_module._geometry("t", x_shape[1:3], k, conv_module._ints(strides, 2, "s", "t"),
                                 conv_module._ints(dilation, 2, "d", "t"), padding)


def transpose_window(x_shape, k_shape, strides, padding, output_padding, dilation):
    """The window and padded output shape conv2d_transpose builds (ops/transposed_conv.py), from the same helpers."""
    s, d = conv_module._ints(strides, 2, "s", "t"), conv_module._ints(dilation, 2, "d", "t")
    if output_padding is None or isinstance(output_padding, int):
        extra = (output_padding, output_padding)
    else:
        extra = tuple(output_padding)
    axes = [transposed_conv._transpose_axis(n, k, st, dl, padding, p)
            for n, k, st, dl, p in zip(x_shape[1:3], k_shape[:2], s, d, extra)]
    w = conv_module._Window(k_shape[:2], s, d, tuple((lo, hi) for lo, hi, _ in axes), x_shape[1:3])
    return w, tuple(out for _, _, out in axes)


def plain_col2im(cols, w, out_hw):
    """The col2im formula, one window entry at a time, in float64."""
    n, oh, ow, kh, kw, c = cols.shape
    (top, _), (left, _) = w.pads
    g = np.zeros((n, *out_hw, c))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    p, q = i * w.s[0] + a * w.d[0] - top, j * w.s[1] + b * w.d[1] - left
                    if 0 <= p < out_hw[0] and 0 <= q < out_hw[1]:
                        g[:, p, q] += cols[:, i, j, a, b]
    return g


def plain_im2col(x, w):
    """The im2col formula, one window entry at a time (zeros outside the image)."""
    n, h, wd, c = x.shape
    (top, _), (left, _) = w.pads
    cols = np.zeros((n, *w.out, *w.k, c), x.dtype)
    for i in range(w.out[0]):
        for j in range(w.out[1]):
            for a in range(w.k[0]):
                for b in range(w.k[1]):
                    p, q = i * w.s[0] + a * w.d[0] - top, j * w.s[1] + b * w.d[1] - left
                    if 0 <= p < h and 0 <= q < wd:
                        cols[:, i, j, a, b] = x[:, p, q]
    return cols.reshape(-1, w.k[0] * w.k[1] * c)


def plain_conv2d_transpose(x, K, b, w, out_hw):
    """y = col2im(x Kᵀ) + b with col2im by the formula: the transposed conv's definition."""
    cols = np.einsum("nijf,abcf->nijabc", x, K)
    return plain_col2im(cols, w, out_hw) + b


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", CONV_WINDOWS, ids=str)
def test_compiled_col2im_matches_the_formula_for_conv_windows(x_shape, k, strides, padding, dilation, dtype, tol):
    w = conv_window(x_shape, k, strides, padding, dilation)
    cols = np.random.default_rng(0).standard_normal((x_shape[0], *w.out, *k, x_shape[-1])).astype(dtype)
    got = conv_kernels.col2im_cropped(cols, w, x_shape[1:3])
    assert got is not None and got.dtype == dtype
    assert_close(got, plain_col2im(cols.astype(np.float64), w, x_shape[1:3]), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_compiled_col2im_matches_the_formula_for_transposed_windows(x_shape, k_shape, strides, padding,
                                                                    output_padding, dilation, dtype, tol):
    w, out_hw = transpose_window(x_shape, k_shape, strides, padding, output_padding, dilation)
    cols = np.random.default_rng(1).standard_normal((x_shape[0], *w.out, *k_shape[:3])).astype(dtype)
    got = conv_kernels.col2im_cropped(cols, w, out_hw)
    assert got is not None and got.shape == (x_shape[0], *out_hw, k_shape[2])
    assert_close(got, plain_col2im(cols.astype(np.float64), w, out_hw), atol=tol, rtol=tol)


# more windows for the exact checks: many channels, stride 3 with an even 'same' kernel, dilated even kernels
EXACT_WINDOWS = CONV_WINDOWS + [
    ((1, 9, 8, 70), (4, 4), 3, "same", 1),
    ((2, 11, 10, 3), (2, 4), (1, 2), "same", (3, 2)),
    ((1, 7, 7, 2), (4, 4), 2, "valid", 1),
    ((2, 8, 7, 1), (4, 4), 2, "same", 1),            # one channel: the grayscale layers' col2im
    ((1, 5, 6, 1), (3, 2), (3, 1), "same", (1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", EXACT_WINDOWS, ids=str)
def test_compiled_col2im_gives_the_plain_passes_bit_for_bit(x_shape, k, strides, padding, dilation, dtype):
    """The scatter adds each pixel's terms in the plain form's order ((a, b) increasing, from zero): the same
    numbers exactly, not just close."""
    w = conv_window(x_shape, k, strides, padding, dilation)
    cols = np.random.default_rng(10).standard_normal((x_shape[0], *w.out, *k, x_shape[-1])).astype(dtype)
    got = conv_kernels.col2im_cropped(cols, w, x_shape[1:3])
    padded = (x_shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_shape[1:3], w.pads)), x_shape[-1])
    assert got is not None and got.dtype == dtype
    np.testing.assert_array_equal(got, conv_module._crop(conv_module._col2im(cols, w, padded), w.pads))
    assert_close(got, plain_col2im(cols.astype(np.float64), w, x_shape[1:3]), atol=1e-10 if dtype == np.float64
                 else 1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias_dtype", [None, np.float32, np.float64], ids=["no-bias", "float32-bias", "float64-bias"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", EXACT_WINDOWS, ids=str)
def test_blocked_product_col2im_adds_the_bias_as_the_plain_form(monkeypatch, x_shape, k, strides, padding, dilation,
                                                                dtype, bias_dtype):
    """The bias added inside the scatter, image by image, gives (a @ b, col2im'd) + bias exactly; a bias of
    another dtype is added afterwards by NumPy's casting rules, as the plain form does."""
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", 1)
    w = conv_window(x_shape, k, strides, padding, dilation)
    rng = np.random.default_rng(12)
    a = rng.standard_normal((x_shape[0] * w.out[0] * w.out[1], 5)).astype(dtype)
    b = rng.standard_normal((5, k[0] * k[1] * x_shape[-1])).astype(dtype)
    bias = None if bias_dtype is None else rng.standard_normal(x_shape[-1]).astype(bias_dtype)
    got = conv_kernels.matmul_col2im(a, b, w, x_shape[1:3], bias)
    padded = (x_shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_shape[1:3], w.pads)), x_shape[-1])
    expected = conv_module._crop(conv_module._col2im((a @ b).reshape(x_shape[0], *w.out, *k, -1), w, padded), w.pads)
    if bias is not None:
        expected += bias
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_im2col_product_adds_the_bias_to_each_block(monkeypatch, dtype):
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", 1)
    w = conv_window((3, 7, 6, 4), (4, 4), 2, "same", 1)
    rng = np.random.default_rng(13)
    x, b = rng.standard_normal((3, 7, 6, 4)).astype(dtype), rng.standard_normal((64, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    got = conv_kernels.im2col_matmul(x, w, b, bias=bias)[0]
    assert_close(got, plain_im2col(x.astype(np.float64), w) @ b + bias, atol=1e-10 if dtype == np.float64 else 1e-5,
                 rtol=1e-5)
    np.testing.assert_array_equal(got, conv_kernels.im2col_matmul(x, w, b)[0] + bias)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation",
                         [c for c in EXACT_WINDOWS if c[3] == "same" and c[0][-1] > 1], ids=str)
def test_conv2d_same_multiplies_the_columns_in_blocks(monkeypatch, x_shape, k, strides, padding, dilation, dtype,
                                                      tol):
    """Conv2D 'same' with the kernels keeps x, not the columns: y = im2col(x) K and dK = im2col(x)ᵀ dy by the
    formula, also when the kernels are switched off between forward and backward."""
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", 1)         # one image per block: the block seams are tested
    rng = np.random.default_rng(11)
    x, K = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal((*k, x_shape[-1], 3)).astype(dtype)
    w = conv_window(x_shape, k, strides, padding, dilation)
    cols = plain_im2col(x.astype(np.float64), w)
    gy = rng.standard_normal((x_shape[0], *w.out, 3)).astype(dtype)
    expected_dK = (cols.T @ gy.reshape(-1, 3).astype(np.float64)).reshape(K.shape)
    for switch_off in (False, True):
        kernel = sd.tensor(K, requires_grad=True)
        y = ops.conv2d(sd.tensor(x), kernel, None, strides, padding, dilation)
        assert y.creator.mode == "blocks" and y.creator.saved[0].shape == x_shape     # x kept, not the columns
        assert y.dtype == dtype
        assert_close(y, (cols @ K.reshape(-1, 3).astype(np.float64)).reshape(y.shape), atol=tol * 10, rtol=tol)
        if switch_off:
            monkeypatch.setitem(compiled._built, conv_kernels.NAME, None)
        y.backward(gy)
        assert kernel.grad.dtype == dtype
        assert_close(kernel.grad, expected_dK, atol=tol * 10, rtol=tol, name="dK")


@pytest.mark.parametrize("block_bytes", [1, 2 * 2 ** 20], ids=["one-image-blocks", "default-blocks"])
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", CONV_WINDOWS, ids=str)
def test_blocked_product_col2im_matches_the_formula(monkeypatch, x_shape, k, strides, padding, dilation, dtype, tol,
                                                    block_bytes):
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", block_bytes)
    w = conv_window(x_shape, k, strides, padding, dilation)
    rng = np.random.default_rng(7)
    a = rng.standard_normal((x_shape[0] * w.out[0] * w.out[1], 3)).astype(dtype)
    b = rng.standard_normal((k[0] * k[1] * x_shape[-1], 3)).astype(dtype).T      # a transposed view, as in use
    got = conv_kernels.matmul_col2im(a, b, w, x_shape[1:3])
    assert got is not None and got.dtype == dtype
    cols = (a.astype(np.float64) @ b.astype(np.float64)).reshape(x_shape[0], *w.out, *k, x_shape[-1])
    assert_close(got, plain_col2im(cols, w, x_shape[1:3]), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", CONV_WINDOWS, ids=str)
def test_compiled_im2col_copies_the_formula_exactly(x_shape, k, strides, padding, dilation, dtype):
    w = conv_window(x_shape, k, strides, padding, dilation)
    x = np.random.default_rng(2).standard_normal(x_shape).astype(dtype)
    got = conv_kernels.im2col_padded(x, w)
    assert got is not None and got.dtype == dtype
    np.testing.assert_array_equal(got, plain_im2col(x, w))
    np.testing.assert_array_equal(got, conv_module._im2col(conv_module._pad(x, w.pads), w))


@pytest.mark.parametrize("which", ["both", "cols @ b", "colsT @ c"])
@pytest.mark.parametrize("block_bytes", [1, 2 * 2 ** 20], ids=["one-image-blocks", "default-blocks"])
@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", CONV_WINDOWS, ids=str)
def test_blocked_im2col_products_match_the_formula(monkeypatch, x_shape, k, strides, padding, dilation, dtype, tol,
                                                   block_bytes, which):
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", block_bytes)
    w = conv_window(x_shape, k, strides, padding, dilation)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape).astype(dtype)
    b = rng.standard_normal((k[0] * k[1] * x_shape[-1], 3)).astype(dtype)
    c = rng.standard_normal((x_shape[0] * w.out[0] * w.out[1], 2)).astype(dtype)
    got = conv_kernels.im2col_matmul(x, w, None if which == "colsT @ c" else b, None if which == "cols @ b" else c)
    cols = plain_im2col(x.astype(np.float64), w)
    expectations = ((got[0], cols @ b, which == "colsT @ c"), (got[1], cols.T @ c, which == "cols @ b"))
    for product, expected, skipped in expectations:
        if skipped:
            assert product is None
        else:
            assert product.dtype == dtype
            assert_close(product, expected, atol=tol * 10, rtol=tol)


def test_one_channel_im2col_and_integers_take_the_plain_form():
    w = conv_window((2, 6, 6, 1), (4, 4), 2, "same", 1)
    assert conv_kernels.im2col_padded(np.ones((2, 6, 6, 1)), w) is None
    assert conv_kernels.im2col_matmul(np.ones((2, 6, 6, 1)), w, np.ones((16, 2))) is None
    assert conv_kernels.im2col_padded(np.ones((2, 6, 6, 3), np.int64), w) is None
    assert conv_kernels.col2im_cropped(np.ones((2, *w.out, 4, 4, 3), np.int64), w, (6, 6)) is None
    assert conv_kernels.col2im_cropped(np.ones((2, *w.out, 4, 4, 1)), w, (6, 6)) is not None   # one channel: fast


def run_transpose(x, K, b, gy, strides, padding, output_padding, dilation):
    ts = [sd.tensor(a, requires_grad=True) for a in (x, K, b)]
    y = ops.conv2d_transpose(*ts, strides, padding, dilation, output_padding)
    y.backward(gy)
    return [y.numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k_shape, strides, padding, output_padding, dilation", TRANSPOSE, ids=str)
def test_conv2d_transpose_with_and_without_the_kernels(monkeypatch, x_shape, k_shape, strides, padding,
                                                       output_padding, dilation, dtype, tol):
    rng = np.random.default_rng(3)
    x, K, b = (rng.standard_normal(s).astype(dtype) for s in (x_shape, k_shape, k_shape[2:3]))
    w, out_hw = transpose_window(x_shape, k_shape, strides, padding, output_padding, dilation)
    gy = rng.standard_normal((x_shape[0], *out_hw, k_shape[2])).astype(dtype)
    fast = run_transpose(x, K, b, gy, strides, padding, output_padding, dilation)
    assert fast[0].dtype == dtype
    assert_close(fast[0], plain_conv2d_transpose(*(a.astype(np.float64) for a in (x, K, b)), w, out_hw),
                 atol=tol, rtol=tol, name="forward vs the formula")
    monkeypatch.setitem(compiled._built, conv_kernels.NAME, None)   # as without numba
    plain = run_transpose(x, K, b, gy, strides, padding, output_padding, dilation)
    for name, f, p in zip(("y", "dx", "dK", "dbias"), fast, plain):
        assert_close(f, p, atol=tol, rtol=tol, name=name)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("x_shape, k, strides, padding, dilation", CONV_WINDOWS, ids=str)
def test_conv2d_with_and_without_the_kernels(monkeypatch, x_shape, k, strides, padding, dilation, dtype, tol):
    """Conv2D's padded forward (im2col) and its input gradient (col2im) take the kernels."""
    rng = np.random.default_rng(4)
    x, K, b = (rng.standard_normal(s).astype(dtype) for s in (x_shape, (*k, x_shape[-1], 3), (3,)))
    results = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setitem(compiled._built, conv_kernels.NAME, None)
        ts = [sd.tensor(a, requires_grad=True) for a in (x, K, b)]
        y = ops.conv2d(*ts, strides, padding, dilation)
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype))
        results.append([y.numpy()] + [t.grad.numpy() for t in ts])
    assert results[0][0].dtype == dtype
    for name, f, p in zip(("y", "dx", "dK", "dbias"), *results):
        assert_close(f, p, atol=tol, rtol=tol, name=name)


def test_kernels_switch_off_when_numba_is_missing(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_numba(name, *args, **kwargs):
        if name == "numba":
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_numba)
    monkeypatch.delitem(compiled._built, conv_kernels.NAME, raising=False)    # not built yet
    w = conv_window((2, 6, 6, 3), (4, 4), 2, "same", 1)
    assert conv_kernels.col2im_cropped(np.ones((2, *w.out, 4, 4, 3)), w, (6, 6)) is None
    assert compiled._built[conv_kernels.NAME] is None
    x, K = np.random.default_rng(5).standard_normal((2, 3, 3, 4)), np.ones((4, 4, 3, 4))
    assert ops.conv2d_transpose(x, K, strides=2, padding="same").shape == (2, 6, 6, 3)
    w = conv_window((2, 5, 5, 4), (4, 4), 2, "same", 1)
    x = np.random.default_rng(5).standard_normal((2, 5, 5, 4))
    kernel = sd.tensor(K.transpose(0, 1, 3, 2), requires_grad=True)
    y = ops.conv2d(x, kernel, strides=2, padding="same")
    assert y.creator.mode == "cols"                                 # the plain im2col, kept whole
    assert_close(y, (plain_im2col(x, w) @ np.ones((64, 3))).reshape(y.shape), atol=1e-10)


def test_conv2d_transpose_gradcheck_through_the_kernels():
    x_shape, k_shape = (2, 3, 4, 3), (4, 4, 2, 3)
    rng = np.random.default_rng(6)
    assert gradcheck(lambda x, K, b: ops.conv2d_transpose(x, K, b, strides=2, padding="same"),
                     rng.standard_normal(x_shape), rng.standard_normal(k_shape), rng.standard_normal(2))


def test_big_endian_arrays_take_the_plain_form_and_keep_the_kernels_on():
    rng = np.random.default_rng(9)
    x, K = rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((4, 4, 3, 4))
    expected = ops.conv2d_transpose(x, K, strides=2, padding="same").numpy()
    got = ops.conv2d_transpose(x.astype(">f8"), K.astype(">f8"), strides=2, padding="same").numpy()
    assert_close(got, expected, atol=1e-12)
    assert conv_kernels._kernels() is not None
