"""``shendu.keras``: tf.keras's namespace over shendu. Replace ``tensorflow.keras`` with ``shendu.keras``
in a tutorial's imports and it runs. This package only re-exports and adapts names; it holds no math."""
from shendu.keras import (activations, applications, backend, callbacks, constraints, datasets, dtype_policies,
                          initializers, layers, losses, metrics, models, ops, optimizers, preprocessing, random,
                          regularizers, saving, utils)
from shendu.layers import Input, InputSpec
from shendu.layers.symbolic import KerasTensor
from shendu.models import Model, Sequential
from shendu.saving.keras_file import KERAS_VERSION
from shendu.tape import GradientTape

# the Keras 3 release whose API and file format this facade follows; shendu's own is shendu.__version__
__version__ = KERAS_VERSION

__all__ = ["Input", "InputSpec", "KerasTensor", "Model", "Sequential", "GradientTape", "activations", "applications",
           "backend", "callbacks", "constraints", "datasets", "dtype_policies", "initializers", "layers", "losses",
           "metrics", "models", "ops", "optimizers", "preprocessing", "random", "regularizers", "saving", "utils"]

from shendu.keras import documented as _documented  # noqa: E402
from shendu.missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("keras", _documented.KERAS, globals())
