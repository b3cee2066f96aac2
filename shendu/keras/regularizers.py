"""``keras.regularizers``."""
from shendu.regularizers import *  # noqa: F401,F403
from shendu.regularizers import deserialize, get, serialize  # noqa: F401
