"""``keras.models``."""
from shendu.models import Functional, Model, Sequential, load_model  # noqa: F401
