"""``keras.utils.image_dataset_from_directory``: batches of images from one folder per class.

Each image is decoded with Pillow (an optional dependency, imported on first use), converted to
the ``color_mode``, optionally cropped to the target aspect ratio, and resized to ``image_size``
the way ``tf.image.resize`` does (half-pixel centres, no antialiasing): float32 values in 0..255.
"""
from __future__ import annotations

import numpy as np

from shendu.data.dataset_utils import dataset_from_files

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"rgb": 3, "grayscale": 1, "rgba": 4}


def _axis_weights(out_size, in_size):
    """Bilinear source positions for one axis: in = (out + 0.5) * in/out - 0.5 (tf.image.resize's rule)."""
    position = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    floor = np.floor(position)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(position), in_size - 1).astype(np.intp)
    return lower, upper, (position - floor).astype(np.float32)


def resize_bilinear(image, size):
    """(h, w, c) -> (size[0], size[1], c) float32, interpolating between the 4 nearest source pixels."""
    image = image.astype(np.float32)
    top, bottom, dy = _axis_weights(size[0], image.shape[0])
    left, right, dx = _axis_weights(size[1], image.shape[1])
    rows_top, rows_bottom = image[top], image[bottom]
    dx = dx[None, :, None]
    upper = rows_top[:, left] + (rows_top[:, right] - rows_top[:, left]) * dx
    lower = rows_bottom[:, left] + (rows_bottom[:, right] - rows_bottom[:, left]) * dx
    return upper + (lower - upper) * dy[:, None, None]


def resize_nearest(image, size):
    """(h, w, c) -> (size[0], size[1], c) float32: source pixel floor((out + 0.5) * in/out)."""
    rows = np.minimum(np.floor((np.arange(size[0]) + 0.5) * image.shape[0] / size[0]), image.shape[0] - 1)
    cols = np.minimum(np.floor((np.arange(size[1]) + 0.5) * image.shape[1] / size[1]), image.shape[1] - 1)
    return image[rows.astype(np.intp)][:, cols.astype(np.intp)].astype(np.float32)


def crop_to_aspect(image, size):
    """The largest centred window of ``image`` with the aspect ratio of ``size`` (height, width)."""
    height, width = image.shape[:2]
    crop_height = max(min(height, int(float(width * size[0]) / size[1])), 1)
    crop_width = max(min(width, int(float(height * size[1]) / size[0])), 1)
    top, left = int(float(height - crop_height) / 2), int(float(width - crop_width) / 2)
    return image[top:top + crop_height, left:left + crop_width]


def load_image(path, color_mode="rgb"):
    """The decoded image as a (height, width, channels) uint8 array (the first frame of a GIF)."""
    from PIL import Image     # optional dependency (the `images` extra), imported only when images are read
    with Image.open(str(path)) as img:
        img.seek(0)
        mode = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}[color_mode]
        array = np.asarray(img.convert(mode))
    return array[..., None] if array.ndim == 2 else array


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 format="tf", verbose=True):
    """A Dataset of (images, labels) batches from ``directory/<class>/*.{png,jpg,...}``; images are
    float32 (batch, height, width, channels). ``class_names`` is set on the result; subset='both'
    returns [training, validation]."""
    if color_mode not in _CHANNELS:
        raise ValueError(f"`color_mode` must be one of 'rgb', 'rgba' or 'grayscale', received: {color_mode!r}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation={interpolation!r}: shendu resizes with 'bilinear' or 'nearest'.")
    if pad_to_aspect_ratio:
        raise ValueError("pad_to_aspect_ratio=True is not provided; use crop_to_aspect_ratio=True, or pad the "
                         "images beforehand.")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"data_format={data_format!r}: shendu's images are channels_last (height, width, channels).")
    size = tuple(int(d) for d in image_size)
    resize = resize_bilinear if interpolation == "bilinear" else resize_nearest

    def read(path):
        image = load_image(path, color_mode)
        if crop_to_aspect_ratio:
            image = crop_to_aspect(image, size)
        return resize(image, size)

    return dataset_from_files(directory, labels, label_mode, IMAGE_FORMATS, read, class_names, batch_size, shuffle,
                              seed, validation_split, subset, follow_links, format, verbose,
                              f"No images found in directory {directory!r}. Allowed formats: {IMAGE_FORMATS}",
                              file_paths=True)
