"""``keras.models``."""
from shendu.models import Functional, Model, Sequential, clone_model, load_model  # noqa: F401
