"""``keras.activations``."""
from shendu.activations import *  # noqa: F401,F403
from shendu.activations import deserialize, get, serialize  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.activations", _documented.ACTIVATIONS, globals())
