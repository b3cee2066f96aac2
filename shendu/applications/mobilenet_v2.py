"""MobileNetV2 (Sandler et al., https://arxiv.org/abs/1801.04381), with Keras's layer names.

A 3x3/2 convolution, then 17 inverted residual blocks: a 1x1 "expand" conv (6x wider; absent in the
first block), a 3x3 depthwise conv, and a 1x1 linear "project" conv, each followed by batch norm
(epsilon 1e-3, momentum 0.999) and ReLU6 except the projection; a block keeps a residual Add when it
neither strides nor changes width. A 1x1 conv to 1280 channels closes the network. ``alpha`` scales
every width (rounded to a multiple of 8). Inputs: ``preprocess_input`` ('tf' mode, [-1, 1]).

Keras publishes no hash for these weight files, so (as in Keras) the download is not hash-checked.
"""
from __future__ import annotations

import warnings

from shendu import layers
from shendu.applications import imagenet_utils
from shendu.models import Functional

ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
SIZES = (96, 128, 160, 192, 224)
# (filters, stride, expansion) of the 17 inverted residual blocks
BLOCKS = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6)]


def make_divisible(v, divisor: int = 8, min_value=None) -> int:
    """v rounded to the nearest multiple of ``divisor`` (at least ``min_value``), never more than 10% below v."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * v else rounded


def _bn(x, name):
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_residual(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    out_channels = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                          name=f"{prefix}expand")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(_bn(x, f"{prefix}expand_BN"))
    if stride == 2:
        x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x.shape[1:3], 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(_bn(x, f"{prefix}depthwise_BN"))
    x = layers.Conv2D(out_channels, kernel_size=1, padding="same", use_bias=False, activation=None,
                      name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")
    if in_channels == out_channels and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet", input_tensor=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2: 3,538,984 parameters at alpha=1 with the ImageNet top (2,257,984 without).

    Args (as Keras's):
        input_shape: (height, width, channels), at least 32x32; with ImageNet weights a square 96, 128,
            160, 192 or 224 picks the matching weight file (else 224's, with a warning).
        alpha: the width multiplier (0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 with ImageNet weights).
        include_top, weights, input_tensor, pooling, classes, classifier_activation: as VGG16's.
        name: the model's name, default 'mobilenetv2_{alpha:.2f}_{rows}'.
    """
    who = "MobileNetV2"
    imagenet_utils.check_weights_argument(who, weights, include_top, classes)
    shape = input_shape if input_shape is not None else (
        None if input_tensor is None else tuple(input_tensor.shape[1:]))
    rows_cols = None if shape is None else tuple(shape[:2])
    default_size = rows_cols[0] if rows_cols and rows_cols[0] == rows_cols[1] and rows_cols[0] in SIZES else 224
    input_shape = imagenet_utils.obtain_input_shape(who, input_shape, default_size, 32, include_top, weights)
    rows, cols = input_shape[0], input_shape[1]
    if weights == "imagenet":
        if alpha not in ALPHAS:
            raise ValueError(f"{who}: ImageNet weights exist for alpha in {ALPHAS}, got alpha={alpha}.")
        if rows != cols or rows not in SIZES:
            rows = 224
            warnings.warn(f"{who}: the input shape is undefined, not square, or its size is not one of {SIZES}; "
                          f"the weights for 224x224 inputs are loaded.", stacklevel=2)
    inputs = layers.Input(shape=input_shape) if input_tensor is None else input_tensor
    x = layers.Conv2D(make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
                      name="Conv1")(inputs)
    x = layers.ReLU(6.0, name="Conv1_relu")(_bn(x, "bn_Conv1"))
    for block_id, (filters, stride, expansion) in enumerate(BLOCKS):
        x = _inverted_residual(x, expansion, stride, alpha, filters, block_id)
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.ReLU(6.0, name="out_relu")(_bn(x, "Conv_1_bn"))
    x = imagenet_utils.global_pooling(x, "avg" if include_top else pooling)
    if include_top:
        imagenet_utils.check_classifier_activation(who, classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    model = Functional(inputs, x, name=name or f"mobilenetv2_{alpha:0.2f}_{rows}")
    top = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{top}.h5"
    imagenet_utils.load_weights(model, weights, lambda: imagenet_utils.weights_file(
        file_name, "mobilenet_v2/", None))
    return model


def preprocess_input(x, data_format=None):
    """MobileNetV2's preprocessing: pixels scaled to [-1, 1] ('tf' mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


decode_predictions = imagenet_utils.decode_predictions
