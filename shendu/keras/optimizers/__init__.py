"""``keras.optimizers`` (tf.keras 2's ``keras.optimizers.legacy.Adam`` spelling is accepted too)."""
from shendu.optimizers import *  # noqa: F401,F403
from shendu.keras.optimizers import schedules  # noqa: F401
from shendu.keras.optimizers import schedules as legacy_schedules  # noqa: F401
import shendu.optimizers as legacy  # noqa: F401,E402
