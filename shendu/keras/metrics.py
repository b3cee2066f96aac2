"""``keras.metrics``."""
from shendu.metrics import *  # noqa: F401,F403
from shendu.metrics import kl_divergence, mean_absolute_error, mean_squared_error  # noqa: F401
from shendu.metrics import mean_absolute_percentage_error, mean_squared_logarithmic_error  # noqa: F401

# tf.keras 2's short spellings of the metric functions
mae, mse, kld = mean_absolute_error, mean_squared_error, kl_divergence
mape, msle = mean_absolute_percentage_error, mean_squared_logarithmic_error

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.metrics", _documented.METRICS, globals())
