"""shendu (深度): a deep-learning framework written from the principles up, NumPy-native,
with reverse-mode autodiff and a tf.keras-compatible model API."""
from shendu import backend
from shendu.autograd import Function, enable_grad, is_grad_enabled, no_grad
from shendu.backend import set_backend, set_floatx, set_seed
from shendu.tensor import Tensor, tensor
from shendu import ops
from shendu.ops import *  # noqa: F401,F403  - the primitives, also as shendu.relu, shendu.matmul, ...
from shendu.tape import GradientTape, function
from shendu.testing import gradcheck
from shendu.tracing import Trace, trace
from shendu import profiler, summary
from shendu import (activations, callbacks, functional, initializers, layers, losses, metrics, models, optimizers,
                    regularizers, utils)
# TensorFlow's top-level spellings that Keras code uses beside tf.keras (`import shendu as tf` runs it): tf.constant,
# tf.Variable, tf.reduce_sum, tf.concat, tf.one_hot, tf.float32, tf.nn.*, ... (shendu/tf_api); tf.math, tf.linalg,
# tf.random, tf.data and tf.keras are looked up on first use. A documented TensorFlow name shendu lacks raises an
# error that names what to use instead, and `from shendu import *` never replaces a Python built-in (sum, abs, ...).
import builtins as _builtins  # noqa: E402
import importlib as _importlib  # noqa: E402
from shendu.tensor import arange, shape  # noqa: E402  (shape: after ops' star import)
from shendu.tf_api import *  # noqa: E402,F401,F403
from shendu.tf_api import nn  # noqa: E402  (tf.nn: TensorFlow's functions plus all of shendu.functional)
from shendu.data import TensorSpec  # noqa: E402  (tf.TensorSpec, for Dataset.from_generator(output_signature=...))
from shendu.missing import missing_names as _missing_names  # noqa: E402
from shendu.tf_api.unsupported import TOP_LEVEL as _UNSUPPORTED  # noqa: E402

__version__ = "0.2.0"
_LAZY = {"keras": "shendu.keras", "random": "shendu.random", "math": "shendu.tf_api.math",
         "linalg": "shendu.tf_api.linalg", "data": "shendu.data", "dtypes": "shendu.tf_api.dtypes",
         "distribute": "shendu.distribute"}
_missing = _missing_names("tf", _UNSUPPORTED, globals())
for _name in ("math", "linalg"):    # shendu.ops' submodules of those names came in with its star import
    globals().pop(_name, None)


def __getattr__(name):
    """Namespaces loaded on first use (``tf.keras``, ``tf.random``, ``tf.math``, ``tf.linalg``, ``tf.data``), so that
    ``from shendu import *`` cannot replace the modules random and math; then the teaching errors."""
    if name in _LAZY:
        return _importlib.import_module(_LAZY[name])
    return _missing(name)


__all__ = [_name for _name in list(globals()) if not _name.startswith("_") and not hasattr(_builtins, _name)
           and _name not in _LAZY]
