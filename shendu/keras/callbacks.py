"""``keras.callbacks``."""
from shendu.callbacks import *  # noqa: F401,F403

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.callbacks", _documented.CALLBACKS, globals())
