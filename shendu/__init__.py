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
# TensorFlow's top-level spellings that tutorials use beside tf.keras (`import shendu as tf` keeps them working):
# tf.ones_like, tf.shape, tf.nn.relu, @tf.function, tf.GradientTape, x[..., tf.newaxis]; tf.range and tf.random
# below, looked up on first use so that `from shendu import *` does not replace the built-in range or module random
from shendu.tensor import arange, ones_like, shape, zeros_like  # noqa: E402  (shape: after ops' star import)
from shendu import functional as nn  # noqa: E402
newaxis = None

__version__ = "0.1.0"


def __getattr__(name):
    """Names loaded on first use: ``shendu.keras`` (``import shendu as tf; tf.keras.layers.Dense``),
    ``shendu.random`` (``tf.random.normal``), ``shendu.data`` (``tf.data.Dataset``) and ``shendu.range``
    (``tf.range``)."""
    if name in ("keras", "random", "data"):
        import importlib
        return importlib.import_module(f"shendu.{name}")
    if name == "range":
        return arange
    if name == "TensorSpec":        # tf.TensorSpec, for Dataset.from_generator(output_signature=...)
        from shendu.data import TensorSpec
        return TensorSpec
    raise AttributeError(f"module 'shendu' has no attribute {name!r}")
