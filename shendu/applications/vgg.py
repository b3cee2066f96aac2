"""VGG16 and VGG19 (Simonyan & Zisserman, https://arxiv.org/abs/1409.1556), with Keras's layer names.

Five blocks of 3x3 'same' convolutions with ReLU (2, 2, 3, 3, 3 convs for VGG16; 2, 2, 4, 4, 4 for
VGG19; 64, 128, 256, 512, 512 filters), each closed by a 2x2 max pooling; the top flattens and runs
two 4096-unit ReLU layers, then the classifier. Inputs: ``preprocess_input`` ('caffe' mode).
"""
from __future__ import annotations

from shendu import layers
from shendu.applications import imagenet_utils
from shendu.models import Functional

WEIGHTS = {  # (file name, published md5): with the classifier on top, and without it
    "vgg16": (("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
              ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc")),
    "vgg19": (("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "cbe5617147190e668d6c5d5026f83318"),
              ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6")),
}


def _vgg(who, convs_per_block, include_top, weights, input_tensor, input_shape, pooling, classes,
         classifier_activation, name):
    imagenet_utils.check_weights_argument(who, weights, include_top, classes)
    input_shape = imagenet_utils.obtain_input_shape(who, input_shape, 224, 32, include_top, weights)
    inputs = layers.Input(shape=input_shape) if input_tensor is None else input_tensor
    x = inputs
    for block, (convs, filters) in enumerate(zip(convs_per_block, (64, 128, 256, 512, 512)), start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        imagenet_utils.check_classifier_activation(who, classifier_activation, weights)
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.global_pooling(x, pooling)
    model = Functional(inputs, x, name=name)
    file_name, file_hash = WEIGHTS[who.lower()][0 if include_top else 1]
    imagenet_utils.load_weights(model, weights, lambda: imagenet_utils.weights_file(
        file_name, f"{who.lower()}/", file_hash))
    return model


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg16"):
    """VGG16: 13 convolutions and 3 dense layers (138,357,544 parameters with the 224x224 ImageNet top).

    Args (as Keras's):
        include_top: add the flatten + fc1 + fc2 + predictions classifier.
        weights: None (random), 'imagenet' (downloaded once into the Keras cache, hash-checked) or a file path.
        input_tensor: a symbolic tensor to build on instead of a new Input.
        input_shape: (height, width, channels), at least 32x32; must be (224, 224, 3) with the ImageNet top.
        pooling: without the top, None (4-D output), 'avg' or 'max' (global pooling, 2-D output).
        classes, classifier_activation: the top's size and activation.
    """
    return _vgg("VGG16", (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None, pooling=None, classes=1000,
          classifier_activation="softmax", name="vgg19"):
    """VGG19: 16 convolutions and 3 dense layers (143,667,240 parameters with the ImageNet top); args as VGG16."""
    return _vgg("VGG19", (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation, name)


def preprocess_input(x, data_format=None):
    """VGG's preprocessing: RGB -> BGR and the ImageNet mean pixel subtracted ('caffe' mode)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


decode_predictions = imagenet_utils.decode_predictions
