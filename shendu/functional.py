"""``shendu.functional``: every primitive op and loss as a plain function (like ``torch.nn.functional``)."""
from shendu.ops import *  # noqa: F401,F403
from shendu.losses import (binary_crossentropy, categorical_crossentropy, mean_absolute_error,  # noqa: F401
                           mean_squared_error, sparse_categorical_crossentropy)
