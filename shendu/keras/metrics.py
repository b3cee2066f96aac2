"""``keras.metrics``."""
from shendu.metrics import *  # noqa: F401,F403
