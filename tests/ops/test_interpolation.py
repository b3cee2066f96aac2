"""shendu/ops/interpolation.py: image resizing by one linear map per axis, TensorFlow's half-pixel sampling.

Bilinear and nearest agree with PyTorch (align_corners=False, 'nearest-exact'), forward and backward.
Bicubic (Keys, a = -0.5) and Lanczos have no PyTorch twin (PyTorch's bicubic uses a = -0.75 and
clamps the edges), so they are checked against a per-pixel reference written from the definition,
and by the interpolation property: at a 3x upscale every third output pixel sits on an input pixel.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import ops
from shendu.ops.interpolation import resize_matrix
from shendu.testing import assert_close, gradcheck

try:
    import torch          # the oracle, for the tests marked needs_torch only: the others run without it
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="compares with PyTorch, which is not installed")

CASES = [((2, 3, 4, 2), (6, 12)), ((1, 5, 7, 3), (5, 14)), ((2, 6, 4, 1), (3, 9)), ((1, 1, 2, 1), (3, 2))]


def keys(t):
    t = abs(t)
    if t < 1:
        return 1.5 * t ** 3 - 2.5 * t ** 2 + 1
    return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2 if t < 2 else 0.0


def lanczos(radius):
    return lambda t: float(np.sinc(t) * np.sinc(t / radius)) if abs(t) < radius else 0.0


def reference_matrix(n, m, kernel):
    """Per output pixel: sample at (o + 0.5) n / m - 0.5, weigh the existing input pixels, normalise."""
    W = np.zeros((m, n))
    for o in range(m):
        u = (o + 0.5) * n / m - 0.5
        for j in range(n):
            W[o, j] = kernel(u - j)
        W[o] /= W[o].sum()
    return W


@needs_torch
@pytest.mark.parametrize("shape, size", CASES, ids=str)
@pytest.mark.parametrize("interpolation, mode", [("bilinear", "bilinear"), ("nearest", "nearest-exact")])
def test_resize_matches_torch(shape, size, interpolation, mode):
    x = np.random.default_rng(0).standard_normal(shape)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        t = sd.tensor(x.astype(dtype), requires_grad=True)
        tt = torch.tensor(x.astype(dtype), requires_grad=True)
        y = ops.resize(t, size, interpolation)
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        yt = F.interpolate(tt.permute(0, 3, 1, 2), size=size, mode=mode, **kwargs).permute(0, 2, 3, 1)
        assert y.dtype == dtype
        assert_close(y, yt.detach().numpy(), atol=tol, rtol=tol, name="forward")
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        y.backward(gy)
        yt.backward(torch.tensor(gy))
        assert_close(t.grad, tt.grad.numpy(), atol=tol, rtol=tol, name="gradient")


@pytest.mark.parametrize("interpolation, kernel", [("bicubic", keys), ("lanczos3", lanczos(3)),
                                                   ("lanczos5", lanczos(5)), ("bilinear", lambda t: max(0, 1 - abs(t)))])
@pytest.mark.parametrize("n, m", [(4, 8), (5, 15), (3, 7), (6, 3), (1, 3)])
def test_resize_weights_follow_the_definition(interpolation, kernel, n, m):
    assert_close(resize_matrix(n, m, interpolation), reference_matrix(n, m, kernel), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("interpolation", ["bicubic", "lanczos3", "lanczos5", "bilinear"])
def test_resize_interpolates_and_keeps_constants(interpolation):
    x = np.random.default_rng(2).standard_normal((2, 4, 5, 3))
    y = ops.resize(x, (12, 15), interpolation).numpy()
    assert_close(y[:, 1::3, 1::3], x, atol=1e-12, name="samples on input pixels")
    assert_close(ops.resize(np.full((1, 3, 4, 2), 2.5), (9, 8), interpolation), np.full((1, 9, 8, 2), 2.5),
                 atol=1e-12, name="a constant image stays constant")


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos3"])
def test_resize_gradcheck(interpolation):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 2))
    assert gradcheck(lambda t: ops.resize(t, (5, 8), interpolation), x)
    assert gradcheck(lambda t: ops.resize(t, (5, 8), interpolation, "channels_first"), x.transpose(0, 3, 1, 2))


def test_resize_channels_first_and_single_image():
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 2))
    expected = ops.resize(x, (6, 8), "bicubic").numpy()
    got = ops.resize(x.transpose(0, 3, 1, 2), (6, 8), "bicubic", data_format="channels_first").numpy()
    assert_close(got.transpose(0, 2, 3, 1), expected, atol=1e-12)
    assert_close(ops.resize(x[0], (6, 8), "bicubic"), expected[0], atol=1e-12)


def test_resize_explains_bad_arguments():
    with pytest.raises(ValueError, match="unknown interpolation 'area'"):
        ops.resize(np.zeros((1, 2, 2, 1)), (4, 4), "area")
    with pytest.raises(ValueError, match="size must be"):
        ops.resize(np.zeros((1, 2, 2, 1)), (4,))
    with pytest.raises(ValueError, match="real-valued images"):
        ops.resize(np.zeros((1, 2, 2, 1), complex), (4, 4))


def test_resize_rounds_integer_images_back_to_their_dtype():
    x = np.array([[0, 255], [255, 0]], np.uint8)[None, :, :, None]
    y = ops.resize(x, (4, 4), "bicubic")
    assert y.dtype == np.uint8 and not y.requires_grad
    expected = np.clip(np.round(ops.resize(x.astype("float32"), (4, 4), "bicubic").numpy()), 0, 255)
    np.testing.assert_array_equal(y.numpy(), expected)
