"""``keras.losses``."""
from shendu.losses import *  # noqa: F401,F403
