"""``keras.preprocessing.text``."""
from shendu.preprocessing.text import *  # noqa: F401,F403
