"""The primitive ops: every differentiable computation in shendu is built from these."""
from shendu.ops.activation import (elu, gelu, hard_sigmoid, leaky_relu, log_softmax, relu, selu, sigmoid,
                                   softmax, softplus, softsign, step, swish, tanh)
from shendu.ops.conv import conv1d, conv2d
from shendu.ops.transposed_conv import conv2d_transpose
from shendu.ops.elementwise import (abs, add, cast, clip, div, exp, log, maximum, minimum, mul, neg, pow,
                                    sqrt, square, sub, where)
from shendu.ops.linalg import linear, matmul
from shendu.ops.nn import dropout, embedding, softmax_cross_entropy
from shendu.ops.reduce import logsumexp, max, mean, min, sum
from shendu.ops.shape import (broadcast_to, concatenate, expand_dims, getitem, pad, reshape, split, squeeze,
                              stack, transpose)
from shendu.ops.normalization import batch_norm, layer_norm
from shendu.ops.recurrent import gru, lstm, simple_rnn
from shendu.ops.conv_nd import conv1d_transpose, conv3d, conv3d_transpose, conv_transpose, convolution
from shendu.ops.depthwise import depthwise_conv, separable_conv
from shendu.ops.pool import (avg_pool, avg_pool1d, avg_pool2d, avg_pool3d, max_pool, max_pool1d, max_pool2d,
                             max_pool3d)
from shendu.ops.interpolation import INTERPOLATIONS as resize_interpolations
from shendu.ops.interpolation import resize
from shendu.ops.math import (arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, cbrt, cos, cosh, cumprod,
                             cumsum, erf, erfinv, expm1, log1p, prod, sin, sinh, tan)
from shendu.ops.linalg import det, einsum, inv, solve
from shendu.ops.indexing import scatter_add
