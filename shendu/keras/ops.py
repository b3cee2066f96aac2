"""``keras.ops``: Keras 3's backend-agnostic functions on shendu Tensors, differentiable through shendu's
autograd. Re-exports only: the NumPy-like functions live in ``shendu.numpy_api``, the neural-network
ones in ``shendu.nn_api``; ``keras.ops.nn``, ``keras.ops.numpy`` and ``keras.ops.linalg`` hold those modules'
functions. Called on ``keras.Input`` tensors, each becomes a node of the functional graph."""
import types

from shendu import nn_api as _nn_api
from shendu import numpy_api as _numpy_api
from shendu.tf_api.symbolic import accept_symbolic, accept_symbolic_all
from shendu.missing import missing_names
from shendu.nn_api import *  # noqa: F401,F403
from shendu.numpy_api import *  # noqa: F401,F403
from shendu.numpy_api import linalg as _linalg

_NO_COMPLEX = ("shendu tensors are real-valued (no complex dtype); use NumPy on keras.ops.convert_to_numpy(x) "
               "(the result carries no gradient).")
_NUMPY = "use numpy.{0} on keras.ops.convert_to_numpy(x) and keras.ops.convert_to_tensor on the result (no gradient)."
_UNSUPPORTED = {
    **{name: _NO_COMPLEX for name in ("fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "angle", "conj",
                                      "conjugate", "imag", "real", "isreal", "polar", "view_as_complex",
                                      "view_as_real")},
    **{name: _NUMPY.format(name) for name in ("bartlett", "blackman", "hamming", "hanning", "kaiser", "i0",
                                              "histogram", "corrcoef", "correlate", "vander", "nextafter", "ldexp",
                                              "argpartition")},
    "custom_gradient": "write a shendu.Function subclass with forward() and backward() (see shendu/ops/*.py) and "
                       "call it with MyFunction.apply(x).",
    "jvp": "shendu differentiates in reverse mode only; use keras.ops with shendu.GradientTape for gradients.",
    "vectorize": "use keras.ops.vectorized_map(function, elements) or a Python loop.",
    "associative_scan": "use keras.ops.scan(f, init, xs) (a sequential scan) or keras.ops.cumsum/cumprod.",
    "ctc_loss": "shendu has no CTC loss; it is not implemented.",
    "ctc_decode": "shendu has no CTC decoder; it is not implemented.",
    "adaptive_average_pool": "use keras.ops.average_pool with pool_size = strides = input size // output size.",
    "adaptive_max_pool": "use keras.ops.max_pool with pool_size = strides = input size // output size.",
    "fold": "shendu has no fold (col2im) op in keras.ops; use keras.ops.conv_transpose.",
    "unfold": "shendu has no unfold (im2col) op in keras.ops; use keras.ops.conv with an identity kernel.",
    "extract_sequences": "build the frames with keras.ops.stack of keras.ops.slice calls.",
    "segment_min": "use -keras.ops.segment_max(-data, segment_ids).",
    "segment_prod": "use keras.ops.exp(keras.ops.segment_sum(keras.ops.log(data), segment_ids)) for positive data.",
    "sparsemax": "shendu has no sparsemax; use keras.ops.softmax.",
    "cholesky_inverse": "use keras.ops.inv(x @ x.T) (or keras.ops.linalg.inv).",
    "lu_factor": "use keras.ops.solve(a, b) or keras.ops.inv; shendu has no LU factorization.",
    **{name: f"remove the NaNs first (keras.ops.where(keras.ops.isnan(x), fill, x)) and call keras.ops.{name[3:]}."
       for name in ("nanmedian", "nanquantile", "nanpercentile")},
    "rearrange": "use keras.ops.reshape and keras.ops.transpose.",
    "view": "shendu does not reinterpret memory; use keras.ops.cast(x, dtype) to convert values.",
    "image": "keras.ops.image is not in shendu; use keras.layers.UpSampling2D(interpolation='bilinear'), "
             "keras.preprocessing.image, or NumPy on keras.ops.convert_to_numpy(images).",
    "core": "the core functions are in keras.ops itself (keras.ops.cast, keras.ops.cond, ...).",
}
__getattr__ = missing_names("keras.ops", _UNSUPPORTED, globals())

# on keras.Input tensors (functional code) each function becomes a graph node, as in Keras 3
_FACTS = {"shape", "ndim", "dtype", "is_tensor", "convert_to_numpy"}
accept_symbolic_all(globals(), [name for name in dir() if not name.startswith("_") and name not in _FACTS])


def _namespace(name, module):
    """keras.ops.nn / .numpy / .linalg: the module's functions, accepting symbolic tensors as above."""
    space = types.ModuleType(f"keras.ops.{name}", module.__doc__)
    for attr in dir(module):
        value = getattr(module, attr)
        if not attr.startswith("_") and callable(value) and not isinstance(value, type):
            setattr(space, attr, value if attr in _FACTS else accept_symbolic(value))
    space.__getattr__ = missing_names(f"keras.ops.{name}", _UNSUPPORTED, vars(space))
    return space


nn = _namespace("nn", _nn_api)
numpy = _namespace("numpy", _numpy_api)
linalg = _namespace("linalg", _linalg)

# (`from keras.ops import *` leaves out the numpy namespace: it would replace the user's own numpy)
__all__ = sorted(name for name, value in list(globals().items()) if not name.startswith("_")
                 and name not in ("types", "accept_symbolic", "accept_symbolic_all", "missing_names", "numpy"))
