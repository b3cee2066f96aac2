"""Images as arrays and files: ``array_to_img``, ``img_to_array``, ``save_img``, ``load_img`` (keras.utils).

Images are Pillow (PIL) images, as in Keras. Pillow is imported only when one of these is first
called (an optional dependency: it comes with matplotlib, i.e. ``pip install shendu[plot]``).

  array_to_img   (height, width, channels) array -> image; with scale=True the values are stretched
                 to 0..255 by (x - min) / max(x - min) * 255. 1 channel -> 'L' (or 32-bit 'I' when the
                 values exceed 255 with scale=False), 3 -> 'RGB', 4 -> 'RGBA'.
  img_to_array   image -> float32 (height, width, channels) array; a grayscale image gets 1 channel.
  save_img       array_to_img, then saved in the format the file name's extension names.
  load_img       a file -> image, converted to color_mode and resized to target_size (height, width).
"""
from __future__ import annotations

import io
import os
import pathlib
import warnings

import numpy as np

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil():
    try:
        from PIL import Image      # optional dependency, imported on first use on purpose
    except ImportError:
        raise ImportError("Images need Pillow (PIL): pip install pillow, or pip install 'shendu[plot]' which brings "
                          "it with matplotlib.") from None
    return Image


def _data_format(data_format) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return data_format


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image from a 3-D array (height, width, channels), or (channels, height, width) if channels_first."""
    Image = _pil()
    x = np.array(x.numpy() if hasattr(x, "numpy") else x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects one image, a 3-D array (height, width, channels), but got shape "
                         f"{x.shape}; for a batch, convert x[i] one at a time.")
    if _data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - x.min()
        top = x.max()
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if x.max() > 255:                      # wider than 8 bits: PIL's 32-bit grayscale
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: an image has 1 (grayscale), 3 (RGB) or 4 (RGBA) channels, got {channels} "
                     f"(shape {x.shape}).")


def img_to_array(img, data_format=None, dtype=None):
    """A (height, width, channels) float32 array from a PIL image (or any array-like image)."""
    x = np.asarray(img, dtype=dtype or "float32")
    channels_first = _data_format(data_format) == "channels_first"
    if x.ndim == 2:
        return x[None] if channels_first else x[:, :, None]
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if channels_first else x
    raise ValueError(f"img_to_array expects an image of rank 2 (grayscale) or 3, got shape {x.shape}.")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save a 3-D array as an image file; the format comes from the extension unless ``file_format`` is given."""
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG cannot store transparency: the RGBA image is saved as RGB.", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Read an image file into a PIL image.

    Args:
        path: a file path or an ``io.BytesIO``.
        color_mode: 'rgb', 'rgba' or 'grayscale'.
        target_size: None (as stored) or (height, width).
        interpolation: how to resize: one of 'nearest', 'bilinear', 'bicubic', 'hamming', 'box', 'lanczos'.
        keep_aspect_ratio: crop the centre to the target's aspect ratio before resizing.
    """
    Image = _pil()
    modes = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}
    if color_mode not in modes:
        raise ValueError(f"load_img: color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}.")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"load_img: path must be a file path or an io.BytesIO, got {type(path).__name__}.")
    if img.mode not in modes[color_mode]:
        img = img.convert(modes[color_mode][0])
    if target_size is None:
        return img
    size = (target_size[1], target_size[0])               # PIL speaks (width, height)
    if img.size == size:
        return img
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"load_img: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}.")
    resample = getattr(Image.Resampling, interpolation.upper())
    box = None
    if keep_aspect_ratio:
        width, height = img.size
        crop_h = min(height, width * size[1] // size[0])
        crop_w = min(width, height * size[0] // size[1])
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        box = (left, top, left + crop_w, top + crop_h)
    return img.resize(size, resample, box=box)
