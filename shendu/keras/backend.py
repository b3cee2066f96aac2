"""``keras.backend``: Keras 3's backend helpers (floatx, epsilon, clear_session, standardize_dtype, ...) and the
tf.keras 2 functions that custom layers and losses call as ``K.mean``, ``K.square``, ``K.random_normal``,
``K.int_shape``, ... Adapters only: the math is in ``shendu.numpy_api``, ``shendu.nn_api`` and ``shendu.ops``."""
import itertools

import numpy as np

from shendu import backend as _backend
from shendu import nn_api as _nn
from shendu import numpy_api as _np_api
from shendu import ops as _ops
from shendu import random as _random
from shendu.backend import set_floatx as _set_floatx
from shendu.layers.base import clear_session  # noqa: F401
from shendu.layers.symbolic import KerasTensor as _KerasTensor
from shendu.missing import missing_names
from shendu.numpy_api import (abs, all, any, cos, dtype, equal, exp, greater, greater_equal, is_tensor,  # noqa: F401
                              less, less_equal, log, maximum, minimum, ndim, not_equal, round, sign, sin, sqrt,
                              square, stop_gradient, tanh)
from shendu.numpy_api.creation import standardize_dtype as _dtype
from shendu.tensor import Tensor as _Tensor
from shendu.tf_api import foldl as _tf_foldl
from shendu.tf_api import foldr as _tf_foldr
from shendu.variable import Variable as _Variable


# ---------------------------------------------------------------- Keras 3's keras.backend
def backend() -> str:
    """The name of the engine running Keras code: 'shendu'."""
    return "shendu"


def floatx() -> str:
    return _backend.xp.dtype(_backend.floatx).name


def set_floatx(value) -> None:
    _set_floatx(value)


def epsilon() -> float:
    """The fuzz factor of Keras's losses and normalizers: 1e-7 (fixed in shendu)."""
    return 1e-7


def image_data_format() -> str:
    return "channels_last"


def set_image_data_format(data_format) -> None:
    if data_format != "channels_last":
        raise ValueError(f"shendu's layers use channels_last (NHWC) only, got {data_format!r}; keep "
                         "'channels_last' and transpose channels-first arrays with keras.ops.moveaxis(x, 1, -1).")


def is_keras_tensor(x) -> bool:
    """True for the symbolic tensors of the functional API (``keras.Input``, a layer's output on it)."""
    return isinstance(x, _KerasTensor)


def standardize_dtype(dtype) -> str:
    """The dtype's name: 'float32' for 'float32', np.float32 or None (floatx)."""
    return _dtype(dtype).name


def is_float_dtype(dtype) -> bool:
    return _dtype(dtype).kind == "f"


def is_int_dtype(dtype) -> bool:
    return _dtype(dtype).kind in "iu"


def result_type(*dtypes) -> str:
    """The dtype of an op on these dtypes, as Keras promotes them: any float wins over ints (the widest float;
    a Python float alone gives float32), else the widest int; int32 + float32 is float32, not NumPy's float64,
    and float16 + a Python float stays float16. Unlike Keras, 64-bit types are kept (float16 + float64 is
    float64)."""
    typed = [_dtype(d) for d in dtypes if d not in (float, int)]
    floats = [d for d in typed if d.kind == "f"]
    if floats:
        return np.result_type(*floats).name
    if float in dtypes:                 # Python numbers are "weak": they only decide when nothing typed does
        return floatx()
    if not typed:
        return "int32" if int in dtypes else floatx()
    return np.result_type(*typed).name


_uids = {}


def get_uid(prefix="") -> int:
    """1, 2, 3, ... per prefix (reset by clear_session in Keras; here per process)."""
    counter = _uids.setdefault(prefix, itertools.count(1))
    return next(counter)


# ---------------------------------------------------------------- values of variables
def get_value(x):
    """The value of a tensor or variable as NumPy (a number stays a number): ``get_value(model.optimizer.lr)``."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return x if isinstance(x, (int, float)) else np.asarray(x)


def set_value(x, value) -> None:
    """Assign ``value`` to a variable in place: ``set_value(model.optimizer.lr, 0.001)`` sets the rate,
    ``set_value(layer.kernel, array)`` a weight."""
    if hasattr(x, "assign"):
        x.assign(value)
        return
    if not isinstance(x, _Tensor):
        raise TypeError(f"set_value expects a variable (a weight Tensor or optimizer.learning_rate), got "
                        f"{type(x).__name__}.")
    value = np.asarray(value)
    if value.shape != tuple(x.shape):
        raise ValueError(f"set_value: the variable has shape {tuple(x.shape)} but the value has shape {value.shape}.")
    x.data[...] = _np_api.convert_to_tensor(value).data.astype(x.dtype)


def batch_get_value(tensors) -> list:
    return [get_value(t) for t in tensors]


def batch_set_value(tuples) -> None:
    for x, value in tuples:
        set_value(x, value)


eval = get_value


def update(x, new_x):
    set_value(x, get_value(new_x) if isinstance(new_x, _Tensor) else new_x)
    return x


def update_add(x, increment):
    return update(x, get_value(x) + np.asarray(get_value(increment)))


def update_sub(x, decrement):
    return update(x, get_value(x) - np.asarray(get_value(decrement)))


# ---------------------------------------------------------------- tf.keras 2's K.* functions
def variable(value, dtype=None, name=None, constraint=None) -> _Variable:
    return _Variable(value, dtype=dtype or floatx(), name=name, constraint=constraint)


def constant(value, dtype=None, shape=None, name=None) -> _Tensor:
    t = _np_api.convert_to_tensor(value, dtype or floatx())
    return _np_api.broadcast_to(t, shape) if shape is not None else t


def zeros(shape, dtype=None, name=None):
    return _np_api.zeros(shape, dtype)


def ones(shape, dtype=None, name=None):
    return _np_api.ones(shape, dtype)


def eye(size, dtype=None, name=None):
    return _np_api.eye(size, dtype=dtype)


def zeros_like(x, dtype=None, name=None):
    return _np_api.zeros_like(x, dtype)


def ones_like(x, dtype=None, name=None):
    return _np_api.ones_like(x, dtype)


def arange(start, stop=None, step=1, dtype="int32"):
    return _np_api.arange(start, stop, step, dtype)


def shape(x) -> tuple:
    """The shape as a tuple of ints (shendu runs eagerly, so it is always known)."""
    return tuple(x.shape) if hasattr(x, "shape") else _np_api.shape(x)


def int_shape(x):
    """The shape as a tuple, None for axes unknown (a symbolic tensor's batch axis)."""
    return tuple(None if n is None else int(n) for n in x.shape)


def count_params(x) -> int:
    return int(np.prod(int_shape(x)))


def cast(x, dtype):
    return _np_api.cast(x, dtype)


def _reduce(fn):
    def reduce(x, axis=None, keepdims=False):
        return fn(x, axis, keepdims)
    reduce.__name__ = fn.__name__
    reduce.__doc__ = f"``{fn.__name__}`` over ``axis`` (all axes when None)."
    return reduce


sum = _reduce(_np_api.sum)
mean = _reduce(_np_api.mean)
max = _reduce(_np_api.max)
min = _reduce(_np_api.min)
prod = _reduce(_np_api.prod)
std = _reduce(_np_api.std)
var = _reduce(_np_api.var)
logsumexp = _reduce(_np_api.logsumexp)


def argmax(x, axis=-1):
    return _np_api.argmax(x, axis)


def argmin(x, axis=-1):
    return _np_api.argmin(x, axis)


def cumsum(x, axis=0):
    return _np_api.cumsum(x, axis)


def cumprod(x, axis=0):
    return _np_api.cumprod(x, axis)


def pow(x, a):
    return _np_api.power(x, a)


def clip(x, min_value, max_value):
    return _np_api.clip(x, min_value, max_value)


def dot(x, y):
    """x @ y over x's last axis and y's second-to-last (tf.keras 2's K.dot)."""
    return _np_api.dot(x, y)


def batch_dot(x, y, axes=None):
    """Per-sample dot products of (batch, ...) tensors along ``axes`` (x's last and y's second-to-last by
    default, or y's last when y is (batch, n))."""
    x, y = _np_api.convert_to_tensor(x), _np_api.convert_to_tensor(y)
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 1 if y.ndim == 2 else y.ndim - 2)
    elif isinstance(axes, int):
        axes = (axes, axes)
    a, b = axes[0] % x.ndim, axes[1] % y.ndim
    letters = "bcdefghijklmnopqrstuvwxyz"
    tx = ["a"] + list(letters[:x.ndim - 1])
    ty = ["a"] + list(letters[x.ndim - 1:x.ndim + y.ndim - 2])
    ty[b] = tx[a]
    out = [c for i, c in enumerate(tx) if i != a] + [c for i, c in enumerate(ty) if i not in (0, b)]
    y2 = _np_api.einsum("".join(tx) + "," + "".join(ty) + "->" + "".join(out), x, y)
    return _np_api.expand_dims(y2, 1) if y2.ndim == 1 else y2


def concatenate(tensors, axis=-1):
    return _np_api.concatenate(tensors, axis)


def stack(x, axis=0):
    return _np_api.stack(x, axis)


def reshape(x, shape):
    return _np_api.reshape(x, shape)


def permute_dimensions(x, pattern):
    return _np_api.transpose(x, pattern)


def transpose(x):
    return _np_api.transpose(x)


def expand_dims(x, axis=-1):
    return _np_api.expand_dims(x, axis)


def squeeze(x, axis):
    return _np_api.squeeze(x, axis)


def flatten(x):
    return _np_api.reshape(x, (-1,))


def batch_flatten(x):
    x = _np_api.convert_to_tensor(x)
    return _np_api.reshape(x, (x.shape[0], -1))


def tile(x, n):
    return _np_api.tile(x, n)


def repeat_elements(x, rep, axis):
    return _np_api.repeat(x, rep, axis)


def gather(reference, indices):
    return _np_api.take(reference, indices, 0)


def one_hot(indices, num_classes):
    return _nn.one_hot(indices, num_classes)


def switch(condition, then_expression, else_expression):
    """then_expression where ``condition`` holds, else else_expression (callables are called first)."""
    then = then_expression() if callable(then_expression) else then_expression
    other = else_expression() if callable(else_expression) else else_expression
    return _np_api.where(condition, then, other)


def l2_normalize(x, axis=None):
    x = _np_api.convert_to_tensor(x)
    axes = tuple(range(x.ndim)) if axis is None else axis
    return _np_api.multiply(x, _np_api.rsqrt(_np_api.maximum(_np_api.sum(_np_api.square(x), axes, True), 1e-12)))


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """max(x, 0), with a slope ``alpha`` below ``threshold`` and a cap ``max_value``."""
    x = _np_api.convert_to_tensor(x)
    if alpha == 0 and max_value is None and threshold == 0:
        return _nn.relu(x)
    y = _np_api.where(x.data >= threshold, x, _ops.mul(_ops.sub(x, threshold), alpha) if alpha else 0.0)
    return y if max_value is None else _np_api.minimum(y, float(max_value))


def elu(x, alpha=1.0):
    return _nn.elu(x, alpha)


def sigmoid(x):
    return _nn.sigmoid(x)


def hard_sigmoid(x):
    """clip(0.2 x + 0.5, 0, 1): tf.keras 2's slope (Keras 3's keras.ops.hard_sigmoid uses 1/6)."""
    return _np_api.clip(_np_api.add(_np_api.multiply(x, 0.2), 0.5), 0.0, 1.0)


def softmax(x, axis=-1):
    return _nn.softmax(x, axis)


def softplus(x):
    return _nn.softplus(x)


def softsign(x):
    return _nn.softsign(x)


def binary_crossentropy(target, output, from_logits=False):
    return _nn.binary_crossentropy(target, output, from_logits)


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return _nn.categorical_crossentropy(target, output, from_logits, axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    return _nn.sparse_categorical_crossentropy(target, output, from_logits, axis)


def bias_add(x, bias, data_format=None):
    if data_format not in (None, "channels_last"):
        raise ValueError("bias_add: shendu uses channels_last; transpose the input first.")
    return _np_api.add(x, bias)


def in_top_k(predictions, targets, k):
    return _np_api.in_top_k(targets, predictions, k)


def dropout(x, level, noise_shape=None, seed=None):
    return _random.dropout(x, level, noise_shape, seed)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _random.normal(shape, mean, stddev, dtype, seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    return _random.uniform(shape, minval, maxval, dtype, seed)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _random.truncated_normal(shape, mean, stddev, dtype, seed)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    """1 with probability p, else 0."""
    u = _random.uniform(shape, 0.0, 1.0, "float64", seed)
    return _np_api.cast(_np_api.less(u, p), dtype or floatx())


random_binomial = random_bernoulli



def cast_to_floatx(x):
    """x as a NumPy array of the default float type."""
    return np.asarray(get_value(x) if isinstance(x, _Tensor) else x, dtype=floatx())


def is_sparse(tensor) -> bool:
    """False: shendu has no sparse tensors."""
    return False


def to_dense(tensor):
    return tensor


def print_tensor(x, message="", summarize=3):
    """Print ``message`` and the values, and return x unchanged."""
    print(message, get_value(x))
    return x


def reset_uids() -> None:
    _uids.clear()


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=0.001):
    """(x - mean) / √(var + ε) · gamma + beta, the statistics shaped along ``axis``."""
    return _nn.batch_normalization(x, mean, var, axis, beta, gamma, epsilon)


def foldl(fn, elems, initializer=None, name=None):
    return _tf_foldl(fn, elems, initializer)


def foldr(fn, elems, initializer=None, name=None):
    return _tf_foldr(fn, elems, initializer)


def map_fn(fn, elems, name=None, dtype=None):
    return _np_api.map(fn, elems)


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    return _Variable(_random.normal(shape, mean, scale, dtype or floatx(), seed), name=name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    return _Variable(_random.uniform(shape, low, high, dtype or floatx(), seed), name=name)


def repeat(x, n):
    """(batch, dim) -> (batch, n, dim): each row repeated n times."""
    return _np_api.repeat(_np_api.expand_dims(x, 1), n, 1)


def reverse(x, axes):
    return _np_api.flip(x, axes)


def temporal_padding(x, padding=(1, 1)):
    """Zeros before and after the time axis of (batch, time, features)."""
    return _np_api.pad(x, ((0, 0), tuple(padding), (0, 0)))


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zeros around the rows and columns of (batch, height, width, channels)."""
    if data_format not in (None, "channels_last"):
        raise ValueError("spatial_2d_padding: shendu uses channels_last; transpose the input first.")
    return _np_api.pad(x, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))

_GRAPH = "shendu runs eagerly: there are no graph functions, placeholders or learning-phase switches. "
_UNSUPPORTED = {
    "set_epsilon": "shendu's losses and normalizers use the fixed epsilon 1e-7; pass epsilon= to the layer or "
                   "function that takes one (BatchNormalization, keras.ops.normalize, ...).",
    "learning_phase": _GRAPH + "Pass training=True/False to the layer or model call instead.",
    "set_learning_phase": _GRAPH + "Pass training=True/False to the layer or model call instead.",
    "function": _GRAPH + "Call the model or a Python function directly.",
    "placeholder": _GRAPH + "Use keras.Input(shape=...) for a symbolic input.",
    "gradients": _GRAPH + "Use shendu.GradientTape (tf.GradientTape) and tape.gradient(loss, variables).",
    "rnn": "use the keras.layers.RNN / LSTM / GRU layers.",
    "ctc_batch_cost": "shendu has no CTC loss; it is not implemented.",
    "ctc_decode": "shendu has no CTC decoder; it is not implemented.",
    "conv1d": "use keras.ops.conv(inputs, kernel, strides, padding).",
    "conv2d": "use keras.ops.conv(inputs, kernel, strides, padding).",
    "pool2d": "use keras.ops.max_pool or keras.ops.average_pool.",
    "in_train_phase": _GRAPH + "Branch in Python on the training argument of call().",
    "in_test_phase": _GRAPH + "Branch in Python on the training argument of call().",
    "moving_average_update": "update the variable with var.assign(var * momentum + value * (1 - momentum)).",
    "get_session": _GRAPH + "Call the ops directly.",
    "set_session": _GRAPH + "Call the ops directly.",
    "name_scope": "shendu has no graph names; leave the block without the name scope.",
    "learning_phase_scope": _GRAPH + "Pass training=True/False to the layer or model call instead.",
    "manual_variable_initialization": _GRAPH + "Variables hold their values from creation.",
    "ctc_label_dense_to_sparse": "shendu has no sparse tensors or CTC loss; it is not implemented.",
    "binary_focal_crossentropy": "use keras.losses.BinaryFocalCrossentropy where available, or write the "
                                 "formula with keras.ops.",
    "categorical_focal_crossentropy": "use keras.losses.CategoricalFocalCrossentropy where available, or write the "
                                      "formula with keras.ops.",
    **{name: "use keras.ops.conv / keras.ops.depthwise_conv / keras.ops.separable_conv / keras.ops.conv_transpose "
             "(1-D and 2-D)." for name in ("conv2d_transpose", "conv3d", "depthwise_conv2d", "separable_conv2d",
                                           "local_conv1d", "local_conv2d")},
    "pool3d": "shendu has no 3-D pooling op; use keras.ops.max_pool on 1-D or 2-D inputs.",
    "spatial_3d_padding": "use keras.ops.pad with one (before, after) pair per axis.",
    "resize_images": "use keras.layers.UpSampling2D or keras.layers.Resizing.",
    "resize_volumes": "repeat along each axis with keras.ops.repeat.",
}
__getattr__ = missing_names("keras.backend", _UNSUPPORTED, globals())
