"""ImageNet classification architectures with Keras's layer names, weight layouts and parameter counts:
VGG16, VGG19, ResNet50, MobileNetV2. ``weights='imagenet'`` downloads Keras's published weight files
once into the Keras cache ($KERAS_HOME/models, else ~/.keras/models) and loads them; nothing is unpickled."""
from shendu.applications import imagenet_utils, mobilenet_v2, resnet, vgg
from shendu.applications.mobilenet_v2 import MobileNetV2
from shendu.applications.resnet import ResNet50
from shendu.applications.vgg import VGG16, VGG19

__all__ = ["VGG16", "VGG19", "ResNet50", "MobileNetV2", "imagenet_utils", "mobilenet_v2", "resnet", "vgg"]
