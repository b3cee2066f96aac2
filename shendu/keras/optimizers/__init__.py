"""``keras.optimizers`` (tf.keras 2's ``keras.optimizers.legacy.Adam`` spelling is accepted too)."""
from shendu.optimizers import *  # noqa: F401,F403
from shendu.keras.optimizers import schedules  # noqa: F401
from shendu.keras.optimizers import schedules as legacy_schedules  # noqa: F401
import shendu.optimizers as legacy  # noqa: F401,E402

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.optimizers", _documented.OPTIMIZERS, globals())
