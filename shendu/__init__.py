"""shendu (深度): a deep-learning framework written from the principles up, NumPy-native,
with reverse-mode autodiff and a tf.keras-compatible model API."""
from shendu import backend
from shendu.autograd import Function, enable_grad, is_grad_enabled, no_grad
from shendu.backend import set_backend, set_floatx, set_seed
from shendu.tensor import Tensor, tensor
from shendu import ops
from shendu.ops import *  # noqa: F401,F403  - the primitives, also as shendu.relu, shendu.matmul, ...
from shendu.tape import GradientTape
from shendu.testing import gradcheck
from shendu import (activations, callbacks, functional, initializers, layers, losses, metrics, models, optimizers,
                    regularizers, utils)

__version__ = "0.1.0"
