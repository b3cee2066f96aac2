"""``tf.linalg``: TensorFlow's linear-algebra namespace over ``shendu.numpy_api.linalg`` (inv, det, solve,
norm, matmul, einsum, trace, ...)."""
from __future__ import annotations

from shendu import numpy_api as np_api
from shendu.missing import missing_names as _missing_names
from shendu.numpy_api import cholesky, det, einsum, inv, qr, solve, svd, tensordot  # noqa: F401
from shendu.tensor import Tensor
from shendu.tf_api import eye, matmul, norm  # noqa: F401
from shendu.tf_api.math import l2_normalize  # noqa: F401
from shendu.tf_api.symbolic import accept_symbolic_all as _accept_symbolic_all


def trace(x, name=None) -> Tensor:
    """The sum of the diagonal of each matrix in the last two axes."""
    return np_api.trace(x, 0, -2, -1)


def diag_part(input, name=None, k=0, padding_value=0, align="RIGHT_LEFT") -> Tensor:
    return np_api.diagonal(input, k, -2, -1)


def diag(diagonal, name=None, k=0, num_rows=-1, num_cols=-1, padding_value=0, align="RIGHT_LEFT") -> Tensor:
    return np_api.diag(diagonal, k)


def matrix_transpose(a, name="matrix_transpose", conjugate=False) -> Tensor:
    return np_api.swapaxes(a, -1, -2)


def matvec(a, b, transpose_a=False, adjoint_a=False, a_is_sparse=False, b_is_sparse=False, name=None) -> Tensor:
    """a @ b for matrices a (..., m, n) and vectors b (..., n)."""
    a = np_api.convert_to_tensor(a)
    if transpose_a or adjoint_a:
        a = np_api.swapaxes(a, -1, -2)
    return np_api.squeeze(np_api.matmul(a, np_api.expand_dims(b, -1)), -1)


def logdet(matrix, name=None) -> Tensor:
    return np_api.logdet(matrix)


def band_part(input, num_lower, num_upper, name=None) -> Tensor:
    """Keep num_lower diagonals below and num_upper above the main one (-1: all of them)."""
    x = np_api.convert_to_tensor(input)
    if num_lower >= 0:
        x = np_api.triu(x, -int(num_lower))
    if num_upper >= 0:
        x = np_api.tril(x, int(num_upper))
    return x


_UNSUPPORTED = {
    "expm": "shendu has no matrix exponential; use scipy.linalg.expm on tensor.numpy() (no gradient).",
    "sqrtm": "shendu has no matrix square root; use scipy.linalg.sqrtm on tensor.numpy() (no gradient).",
    "lu": "use tf.linalg.solve or tf.linalg.inv; shendu has no LU factorization.",
}
__getattr__ = _missing_names("tf.linalg", _UNSUPPORTED, globals())
_accept_symbolic_all(globals(), [name for name in list(globals()) if not name.startswith("_")])
