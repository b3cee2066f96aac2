"""``keras.regularizers``."""
from shendu.regularizers import *  # noqa: F401,F403
from shendu.regularizers import deserialize, get, serialize  # noqa: F401

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.regularizers", _documented.REGULARIZERS, globals())
