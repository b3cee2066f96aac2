"""``keras.layers``."""
from shendu.layers import *  # noqa: F401,F403
from shendu.layers import Layer  # noqa: F401
