"""``keras.activations``."""
from shendu.activations import *  # noqa: F401,F403
from shendu.activations import deserialize, get, serialize  # noqa: F401
