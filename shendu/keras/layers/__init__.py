"""``keras.layers``."""
from shendu.layers import *  # noqa: F401,F403
from shendu.layers import Layer  # noqa: F401
from shendu.keras.layers import experimental  # noqa: F401  (tf.keras 2's layers.experimental spellings)

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.layers", _documented.LAYERS, globals())
