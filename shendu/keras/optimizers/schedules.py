"""``keras.optimizers.schedules``."""
from shendu.optimizers.schedules import *  # noqa: F401,F403
