"""``keras.applications``: VGG16, VGG19, ResNet50 and MobileNetV2, with their preprocessing modules."""
from shendu.applications import MobileNetV2, ResNet50, VGG16, VGG19  # noqa: F401
from shendu.keras.applications import imagenet_utils, mobilenet_v2, resnet, resnet50, vgg16, vgg19  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.applications", _documented.APPLICATIONS, globals())
