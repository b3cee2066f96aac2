"""``keras.applications.resnet``."""
from shendu.applications.resnet import ResNet50, decode_predictions, preprocess_input  # noqa: F401
