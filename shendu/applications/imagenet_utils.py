"""What the ImageNet applications share: input-shape rules, the ``pooling`` choice, pretrained-weight download,
preprocessing, labels.

Preprocessing modes (``preprocess_input(x, mode=...)``), as Keras defines them:
  'caffe'  RGB -> BGR, then subtract the ImageNet mean pixel (103.939, 116.779, 123.68); no scaling (VGG, ResNet)
  'tf'     x / 127.5 - 1, into [-1, 1] (MobileNetV2)
  'torch'  x / 255, then per channel (x - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)
Unlike Keras, a float NumPy input is never modified in place: a new array is returned.
"""
from __future__ import annotations

import json
import os

import numpy as np

from shendu import layers
from shendu.data.download import get_file

BASE_WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
CLASS_INDEX_ORIGIN = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"
_class_index = None

MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def check_weights_argument(who: str, weights, include_top: bool, classes: int) -> None:
    """``weights`` is None, 'imagenet' or a path to a weights file; ImageNet's top has 1000 classes."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(f"{who}: weights must be None (random initialization), 'imagenet' (pre-trained on "
                         f"ImageNet) or the path to an existing weights file, got weights={weights!r}.")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(f"{who}: the ImageNet classifier has 1000 classes, so with weights='imagenet' and "
                         f"include_top=True classes must be 1000 (got {classes}); use include_top=False and add "
                         f"your own classifier for {classes} classes.")


def check_classifier_activation(who: str, classifier_activation, weights) -> None:
    """Pretrained tops were trained with softmax: only None (logits) or 'softmax' can be loaded onto them."""
    if weights is None:
        return
    if classifier_activation not in ("softmax", None):
        raise ValueError(f"{who}: with pretrained weights classifier_activation must be 'softmax' or None "
                         f"(the logits), got {classifier_activation!r}.")


def obtain_input_shape(who: str, input_shape, default_size: int, min_size: int, require_flatten: bool,
                       weights) -> tuple:
    """The (height, width, channels) the model is built for, by Keras's rules (channels_last).

    With ImageNet weights and the classifier on top, only the default shape works; without a top any
    size of at least ``min_size`` does, and an unspecified shape leaves height and width unknown.
    """
    if input_shape is not None:
        input_shape = tuple(input_shape)
    default = (default_size, default_size, 3)
    if weights != "imagenet" and input_shape is not None and len(input_shape) == 3 and input_shape[-1] is not None:
        default = (default_size, default_size, input_shape[-1])
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default:
            raise ValueError(f"{who}: with include_top=True and weights='imagenet' the input shape must be "
                             f"{default}, got input_shape={input_shape}; use include_top=False for other sizes.")
        return default
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"{who}: input_shape must be three values (height, width, channels), got {input_shape}.")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"{who}: ImageNet weights need 3 input channels (RGB), got input_shape={input_shape}.")
        if any(size is not None and size < min_size for size in input_shape[:2]):
            raise ValueError(f"{who}: the input must be at least {min_size}x{min_size}, got input_shape={input_shape}.")
    else:
        input_shape = default if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(f"{who}: with include_top=True the input shape must be fully known, got "
                         f"input_shape={input_shape}; give input_shape=(height, width, 3).")
    return input_shape


def correct_pad(input_size, kernel_size: int) -> tuple:
    """((top, bottom), (left, right)) zero padding after which a stride-2 'valid' conv centres like TF's 'same'."""
    k = kernel_size // 2
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    return (k - adjust[0], k), (k - adjust[1], k)


def global_pooling(x, pooling, avg_name=None, max_name=None):
    """``pooling`` 'avg' or 'max': x reduced over its spatial axes (2-D output); None leaves x as it is."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def weights_file(file_name: str, subfolder: str, file_hash) -> str:
    """The pretrained weights file in the Keras cache ($KERAS_HOME/models), downloaded once from Keras's origin."""
    return get_file(file_name, BASE_WEIGHTS_ORIGIN + subfolder + file_name, cache_subdir="models",
                    file_hash=file_hash)


def load_weights(model, weights, download) -> None:
    """Fill ``model`` from ``weights``: 'imagenet' (``download()`` gives the cached file) or a file path."""
    if weights == "imagenet":
        model.load_weights(download())
    elif weights is not None:
        model.load_weights(weights)


def preprocess_input(x, data_format=None, mode: str = "caffe"):
    """Scale a batch of RGB images (0..255) the way a pretrained network expects (module docstring)."""
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch', got {mode!r}.")
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"preprocess_input: data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}.")
    wrap = None
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):      # a Tensor: same math, Tensor back
        wrap, x = type(x), x.numpy()
    x = np.asarray(x)
    x = x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else "float32")     # a copy: the input stays as is
    axis = (0 if x.ndim == 3 else 1) if data_format == "channels_first" else -1
    if mode == "tf":
        y = x / 127.5 - 1.0
    else:
        shape = [1] * x.ndim
        shape[axis] = 3
        if mode == "torch":
            y = (x / 255.0 - np.reshape(TORCH_MEAN, shape)) / np.reshape(TORCH_STD, shape)
        else:
            y = np.flip(x, axis=axis) - np.reshape(MEAN_BGR, shape)
    y = y.astype(x.dtype)
    return y if wrap is None else wrap(y)


def decode_predictions(preds, top: int = 5) -> list:
    """The ``top`` classes of each row of ImageNet predictions (samples, 1000): [(class_id, name, score), ...].

    The class names come from Keras's ``imagenet_class_index.json``, downloaded once into the Keras cache.
    """
    global _class_index
    preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects ImageNet predictions, a 2-D array (samples, 1000), but got "
                         f"shape {preds.shape}.")
    if _class_index is None:
        path = get_file("imagenet_class_index.json", CLASS_INDEX_ORIGIN, cache_subdir="models",
                        file_hash=CLASS_INDEX_HASH)
        with open(path) as f:
            _class_index = json.load(f)
    results = []
    for row in preds:
        best = np.argsort(row, kind="stable")[::-1][:top]
        results.append([tuple(_class_index[str(i)]) + (row[i],) for i in best])
    return results
