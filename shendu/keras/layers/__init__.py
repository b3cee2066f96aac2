"""``keras.layers``."""
from shendu.layers import *  # noqa: F401,F403
from shendu.layers import Layer  # noqa: F401
from shendu.keras.layers import experimental  # noqa: F401  (tf.keras 2's layers.experimental spellings)
