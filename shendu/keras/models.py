"""``keras.models``."""
from shendu.models import Functional, Model, Sequential, load_model, model_from_json  # noqa: F401
