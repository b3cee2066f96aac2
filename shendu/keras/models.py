"""``keras.models``."""
from shendu.models import Functional, Model, Sequential, clone_model, load_model, model_from_json  # noqa: F401
