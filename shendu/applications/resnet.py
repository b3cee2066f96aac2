"""ResNet50 (He et al., https://arxiv.org/abs/1512.03385), version 1 with bottleneck blocks, Keras's layer names.

A 7x7/2 convolution and a 3x3/2 max pooling, then four stages of bottleneck blocks (3, 4, 6, 3 blocks;
64, 128, 256, 512 filters, 4x wider outputs): 1x1 conv -> 3x3 conv -> 1x1 conv, each with batch norm
(epsilon 1.001e-5), added to the shortcut (a strided 1x1 conv in each stage's first block, else the
input), then ReLU. Inputs: ``preprocess_input`` ('caffe' mode).
"""
from __future__ import annotations

from shendu import layers
from shendu.applications import imagenet_utils
from shendu.models import Functional

WEIGHTS = (("resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107"),
           ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"))
EPS = 1.001e-5


def _bottleneck(x, filters, stride=1, conv_shortcut=True, name=None):
    """y = relu(shortcut + BN(1x1 conv(relu(BN(3x3 conv(relu(BN(1x1 conv(x)))))))))."""
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPS, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _stage(x, filters, blocks, stride=2, name=None):
    x = _bottleneck(x, filters, stride=stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _bottleneck(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def ResNet50(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
             classifier_activation="softmax", name="resnet50"):
    """ResNet50: 25,636,712 parameters with the ImageNet top (23,587,712 without).

    Args (as Keras's):
        include_top: add global average pooling ('avg_pool') and the 'predictions' classifier.
        weights: None (random), 'imagenet' (downloaded once into the Keras cache, hash-checked) or a file path.
        input_tensor: a symbolic tensor to build on instead of a new Input.
        input_shape: (height, width, channels), at least 32x32; (224, 224, 3) with the ImageNet top.
        pooling: without the top, None (4-D output), 'avg' ('avg_pool') or 'max' ('max_pool').
        classes, classifier_activation: the top's size and activation.
    """
    who = "ResNet50"
    imagenet_utils.check_weights_argument(who, weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(who, input_shape, 224, 32, include_top, weights)
    inputs = layers.Input(shape=input_shape) if input_tensor is None else input_tensor
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stage(x, 64, 3, stride=1, name="conv2")
    x = _stage(x, 128, 4, name="conv3")
    x = _stage(x, 256, 6, name="conv4")
    x = _stage(x, 512, 3, name="conv5")
    x = imagenet_utils.global_pooling(x, "avg" if include_top else pooling, "avg_pool", "max_pool")
    if include_top:
        imagenet_utils.check_classifier_activation(who, classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    model = Functional(inputs, x, name=name)
    file_name, file_hash = WEIGHTS[0 if include_top else 1]
    imagenet_utils.load_weights(model, weights, lambda: imagenet_utils.weights_file(
        file_name, "resnet/", file_hash))
    return model


def preprocess_input(x, data_format=None):
    """ResNet50's preprocessing: RGB -> BGR and the ImageNet mean pixel subtracted ('caffe' mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
