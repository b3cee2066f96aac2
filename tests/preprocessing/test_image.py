"""shendu/preprocessing/image.py: array_to_img, img_to_array, save_img, load_img, compared with Keras 3's."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import shendu.keras as sk


@pytest.fixture(scope="module")
def pil():
    """Pillow (the plot extra), which reads and writes the image files."""
    return pytest.importorskip("PIL")


@pytest.mark.parametrize("shape, scale, data_format", [((4, 5, 3), True, None), ((4, 5, 4), True, None),
                                                       ((4, 5, 1), True, None), ((3, 4, 5), True, "channels_first"),
                                                       ((4, 5, 1), False, None), ((2, 3, 3), False, None)])
def test_array_to_img_matches_keras(shape, scale, data_format, pil, keras):
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 400 if not scale and shape[-1] == 1 else 250, shape).astype("float32")
    ours = sk.utils.array_to_img(x, data_format=data_format, scale=scale)
    theirs = keras.utils.array_to_img(x, data_format=data_format, scale=scale)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for fmt in (None, "channels_first"):
        np.testing.assert_array_equal(sk.utils.img_to_array(ours, data_format=fmt),
                                      keras.utils.img_to_array(theirs, data_format=fmt))


def _picture(path):
    x = np.random.default_rng(1).integers(0, 256, (6, 8, 3)).astype("float32")
    sk.utils.save_img(path, x, scale=False)
    return x


def test_save_and_load_img_round_trip(tmp_path, pil):
    path = tmp_path / "picture.png"
    x = _picture(path)
    img = sk.utils.load_img(path)
    assert img.size == (8, 6) and img.mode == "RGB"
    np.testing.assert_array_equal(sk.utils.img_to_array(img), x)
    buffer = io.BytesIO(path.read_bytes())
    assert sk.preprocessing.image.load_img(buffer, target_size=(6, 8)).size == (8, 6)


def test_load_img_options_match_keras(tmp_path, pil, keras):
    path = tmp_path / "picture.png"
    _picture(path)
    for kwargs in (dict(color_mode="grayscale"), dict(target_size=(3, 5), interpolation="bilinear"),
                   dict(color_mode="rgba", target_size=(4, 4), keep_aspect_ratio=True)):
        ours, theirs = sk.utils.load_img(str(path), **kwargs), keras.utils.load_img(str(path), **kwargs)
        assert ours.mode == theirs.mode and ours.size == theirs.size
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_img_as_jpeg_drops_transparency(tmp_path, pil):
    x = np.random.default_rng(2).uniform(0, 1, (4, 4, 4))
    with pytest.warns(UserWarning, match="RGBA"):
        sk.utils.save_img(tmp_path / "a.jpg", x)
    assert sk.utils.load_img(tmp_path / "a.jpg").size == (4, 4)


def test_image_helpers_without_pillow_name_the_plot_extra(monkeypatch):
    for name in ["PIL"] + [n for n in sys.modules if n.startswith("PIL.")]:     # as where Pillow is not installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"Images need Pillow \(PIL\): pip install pillow.*shendu\[plot\]"):
        sk.utils.array_to_img(np.zeros((4, 4, 3)))


def test_image_helpers_explain_bad_inputs(pil):
    with pytest.raises(ValueError, match="3-D array"):
        sk.utils.array_to_img(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="got 2"):
        sk.utils.array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="color_mode"):
        sk.utils.load_img(io.BytesIO(b""), color_mode="cmyk")
    with pytest.raises(TypeError, match="io.BytesIO"):
        sk.utils.load_img(123)
