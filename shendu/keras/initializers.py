"""``keras.initializers``."""
from shendu.initializers import *  # noqa: F401,F403
from shendu.initializers import deserialize, get, serialize  # noqa: F401
