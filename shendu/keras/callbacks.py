"""``keras.callbacks``."""
from shendu.callbacks import *  # noqa: F401,F403
