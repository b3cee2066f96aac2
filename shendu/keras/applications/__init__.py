"""``keras.applications``: VGG16, VGG19, ResNet50 and MobileNetV2, with their preprocessing modules."""
from shendu.applications import MobileNetV2, ResNet50, VGG16, VGG19  # noqa: F401
from shendu.keras.applications import imagenet_utils, mobilenet_v2, resnet, resnet50, vgg16, vgg19  # noqa: F401
