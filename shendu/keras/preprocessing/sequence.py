"""``keras.preprocessing.sequence``."""
from shendu.preprocessing.sequence import *  # noqa: F401,F403
