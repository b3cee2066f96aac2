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
# TensorFlow's top-level spellings that Keras code uses beside tf.keras (`import shendu as tf` runs it): tf.constant,
# tf.Variable, tf.reduce_sum, tf.concat, tf.one_hot, tf.float32, ... (shendu/tf_api); tf.nn, tf.math, tf.linalg,
# tf.random, tf.data and tf.keras are looked up on first use. A documented TensorFlow name shendu lacks raises an
# error that names what to use instead, and `from shendu import *` never replaces a Python built-in (sum, abs, ...).
import builtins as _builtins  # noqa: E402
import collections as _collections  # noqa: E402
import importlib as _importlib  # noqa: E402
from shendu.tensor import arange, shape  # noqa: E402  (shape: after ops' star import)
from shendu.tf_api import *  # noqa: E402,F401,F403
from shendu.missing import missing_names as _missing_names  # noqa: E402
from shendu.tf_api.unsupported import TOP_LEVEL as _UNSUPPORTED  # noqa: E402

__version__ = "0.2.0"
# Loaded on first use, so that a program of tensors and gradients does not pay for what it does not use when it
# imports shendu (`shendu.keras` loads the Keras parts): the namespaces of TensorFlow's spellings, which
# `from shendu import *` leaves out (random and math would replace the standard library's modules) ...
_NAMESPACES = {"keras": "shendu.keras", "random": "shendu.random", "math": "shendu.tf_api.math",
               "linalg": "shendu.tf_api.linalg", "data": "shendu.data", "dtypes": "shendu.tf_api.dtypes",
               "distribute": "shendu.distribute"}
# ... the parts of the package, which `from shendu import *` includes (tf.nn: TensorFlow's functions and all of
# shendu.functional) ...
_PARTS = {"nn": "shendu.tf_api.nn", **{_name: f"shendu.{_name}" for _name in (
    "activations", "callbacks", "constraints", "functional", "initializers", "layers", "losses", "metrics", "models",
    "optimizers", "preprocessing", "profiler", "registration", "regularizers", "saving", "summary", "utils")}}
# ... and names defined in them (tf.TensorSpec, for Dataset.from_generator(output_signature=...))
_NAMES = {"TensorSpec": "shendu.data"}
_missing = _missing_names("tf", _UNSUPPORTED, _collections.ChainMap(globals(), _NAMESPACES, _PARTS, _NAMES))
for _name in ("math", "linalg", "nn"):    # shendu.ops' submodules of those names came in with its star import
    globals().pop(_name, None)


def __getattr__(name):
    """What is loaded on first use (above): ``tf.keras``, ``tf.nn``, ``shendu.layers``, ...; then the teaching
    errors."""
    if name in _NAMESPACES:
        return _importlib.import_module(_NAMESPACES[name])
    if name in _PARTS or name in _NAMES:
        module = _importlib.import_module(_PARTS.get(name) or _NAMES[name])
        globals()[name] = module if name in _PARTS else getattr(module, name)      # found directly from now on
        return globals()[name]
    return _missing(name)


def __dir__():
    """The names loaded so far and those loaded on first use."""
    return sorted(set(globals()) | set(_NAMESPACES) | set(_PARTS) | set(_NAMES))


__all__ = [_name for _name in list(globals()) if not _name.startswith("_") and not hasattr(_builtins, _name)
           and _name not in _NAMESPACES]
__all__ += [_name for _name in (*_PARTS, *_NAMES) if _name not in __all__]
