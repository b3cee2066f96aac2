"""``keras.applications.mobilenet_v2``."""
from shendu.applications.mobilenet_v2 import MobileNetV2, decode_predictions, preprocess_input  # noqa: F401
