"""``keras.losses``."""
from shendu.losses import *  # noqa: F401,F403
from shendu.losses import (kl_divergence, log_cosh, mean_absolute_percentage_error,  # noqa: E402
                           mean_squared_logarithmic_error)

# tf.keras 2's short spellings of the same functions
kld = kullback_leibler_divergence = KLD = kl_divergence
logcosh = log_cosh
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras.losses", _documented.LOSSES, globals())
