"""The transposed ("deconvolution") 2-D convolution: the adjoint of Conv2D, a learned upsampling.

Where Conv2D reads each output pixel's window (im2col, then one product), the transposed conv
multiplies each input pixel by the whole kernel at once (one product, x Kᵀ: kh·kw·filters values per
pixel) and adds those blocks onto the output windows they cover (col2im), cropping TensorFlow's
padding. Its backward is Conv2D's forward on the output gradient: dx = im2col(dy) K, dK = im2col(dy)ᵀ x.
The window helpers, im2col/col2im and the temporary-size limit are Conv2D's (ops/conv.py); the
compiled loops are in ops/conv_kernels.py.

Output size along one axis, with k_eff = (k - 1) * dilation + 1 (Keras's deconv_output_length):
  'valid'   out = in * s + max(k_eff - s, 0)
  'same'    out = in * s
  with output_padding p: out = (in - 1) * s + k_eff - 2 * (k_eff // 2 if 'same' else 0) + p
"""
from __future__ import annotations

import numbers

from shendu import backend
from shendu.autograd import Function
from shendu.ops import compiled, conv, conv_kernels
from shendu.ops.conv import _check_conv, _im2col_padded, _ints, _matmul_col2im, _padding, _Window
from shendu.tensor import Tensor, as_tensor


class Conv2DTranspose(Function):
    """y = col2im(x Kᵀ) cropped, + bias: the adjoint (input gradient) of Conv2D, i.e.
    y[n, i*s+a*d-pad, j*s+b*d-pad, c] += Σ_f x[n,i,j,f] K[a,b,c,f];   dx = im2col(dy) K, dK = im2col(dy)ᵀ x"""
    def forward(self, x, K, *b):
        w = self.win                                    # the window of the conv this op is the adjoint of
        n = x.shape[0]
        # the columns hold kh·kw·filters values per input pixel: cut the batch when they would pass TEMP_LIMIT
        per = x.shape[1] * x.shape[2] * w.k[0] * w.k[1] * K.shape[2] * backend.xp.result_type(x, K).itemsize
        self.chunk = max(1, min(n, conv.TEMP_LIMIT // max(per, 1)))
        K2, bias = K.reshape(-1, K.shape[-1]), (b[0] if b else None)
        if self.chunk >= n:
            y = self._forward_part(x, K2, self.padded_shape, bias)
        else:
            y = backend.xp.empty((n, *(h - lo - hi for h, (lo, hi) in zip(self.padded_shape[1:3], w.pads)),
                                  K.shape[2]), backend.xp.result_type(x, K))
            for i in range(0, n, self.chunk):
                part = x[i:i + self.chunk]
                y[i:i + self.chunk] = self._forward_part(part, K2, (len(part), *self.padded_shape[1:]), bias)
        self.save(x, K)
        return y

    def _forward_part(self, x, K2, padded_shape, bias):
        """col2im(x K2ᵀ) + bias: the one GEMM, then col2im, the bias added to each image while it is in cache"""
        return _matmul_col2im(x.reshape(-1, x.shape[-1]), K2.T, self.win, padded_shape, bias)

    def backward(self, gy):
        x, K = self.saved
        xp, n = backend.xp, x.shape[0]
        K2 = K.reshape(-1, K.shape[-1])
        gy2 = gy.reshape(-1, gy.shape[-1])
        gb = xp.ones(gy2.shape[0], gy2.dtype) @ gy2 if len(self.needs) == 3 else None   # Σ dy: a GEMV
        if self.chunk >= n:                             # the batch fits (see forward): one im2col, no buffers
            x2 = x.reshape(-1, x.shape[-1])
            both = conv_kernels.im2col_matmul(gy, self.win, K2 if self.needs[0] else None,
                                              x2 if self.needs[1] else None)     # blocks of im2col(dy), in cache
            if both is None:
                cols = _im2col_padded(gy, self.win)                                 # (N*H*W, kh*kw*Cout)
                both = (compiled.product(cols, K2) if self.needs[0] else None,
                        compiled.product(cols.T, x2) if self.needs[1] else None)
            gx = None if both[0] is None else both[0].reshape(x.shape)
            gK = None if both[1] is None else both[1].reshape(K.shape)
            return (gx, gK) if gb is None else (gx, gK, gb)
        gx = xp.empty(x.shape, gy.dtype) if self.needs[0] else None
        gK = xp.zeros(K2.shape, gy.dtype) if self.needs[1] else None
        for i in range(0, n, self.chunk):
            cols = _im2col_padded(gy[i:i + self.chunk], self.win)
            if gx is not None:
                gx[i:i + self.chunk] = compiled.product(cols, K2).reshape(-1, *x.shape[1:])
            if gK is not None:
                gK += compiled.product(cols.T, x[i:i + self.chunk].reshape(-1, x.shape[-1]))
        gK = None if gK is None else gK.reshape(K.shape)
        return (gx, gK) if gb is None else (gx, gK, gb)


def _transpose_axis(size, k, s, d, padding, output_padding) -> tuple:
    """(pad_before, pad_after, out) of a transposed conv along one axis: Keras's deconv_output_length, and
    TensorFlow's crop of the full (size-1)*s + k_eff result (pad_before = the 'same' conv's, total // 2)."""
    k_eff = (k - 1) * d + 1
    if output_padding is None:
        out = size * s + max(k_eff - s, 0) if padding == "valid" else size * s
    else:
        out = (size - 1) * s + k_eff - 2 * (k_eff // 2 if padding == "same" else 0) + output_padding
    full = (size - 1) * s + k_eff
    before = max(full - out, 0) // 2 if padding == "same" else 0
    return before, max(full, before + out) - before - out, out


def conv2d_transpose(x, kernel, bias=None, strides=1, padding: str = "valid", dilation_rate=1,
                     output_padding=None) -> Tensor:
    """The transposed ("deconvolution") 2-D conv: the gradient of conv2d with respect to its input.

    Args:
        x: (batch, height, width, in_channels).
        kernel: (kernel_height, kernel_width, filters, in_channels), Keras's Conv2DTranspose layout.
        bias: (filters,) or None.
        strides, dilation_rate, output_padding: an int or a (height, width) pair; output_padding must be
            smaller than the stride.
        padding: 'valid' (out = in*s + max(k_eff - s, 0)) or 'same' (out = in*s).
    Returns (batch, out_height, out_width, filters).
    """
    op = "conv2d_transpose"
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    _check_conv(op, x, kernel, bias, 2, -1, "(batch, height, width, channels)",
                "(kernel_height, kernel_width, filters, in_channels)")
    strides, dilation = _ints(strides, 2, "strides", op), _ints(dilation_rate, 2, "dilation_rate", op)
    padding = _padding(op, padding, ("valid", "same"))
    extra = (None, None)
    if output_padding is not None:
        extra = (output_padding,) * 2 if isinstance(output_padding, numbers.Integral) else tuple(output_padding)
        if len(extra) != 2 or any(not 0 <= p < s for p, s in zip(extra, strides)):
            raise ValueError(f"{op}: output_padding {output_padding!r} must be >= 0 and smaller than the "
                             f"strides {strides} on each axis.")
    axes = [_transpose_axis(*args, padding, p) for args, p in zip(zip(x.shape[1:3], kernel.shape[:2], strides,
                                                                      dilation), extra)]
    if any(out < 1 for _, _, out in axes):
        raise ValueError(f"{op}: a {x.shape[1]}x{x.shape[2]} input with this kernel, strides and padding gives "
                         f"an empty output {tuple(out for _, _, out in axes)}.")
    win = _Window(kernel.shape[:2], strides, dilation, tuple((lo, hi) for lo, hi, _ in axes), x.shape[1:3])
    padded_shape = (x.shape[0], *(lo + hi + out for lo, hi, out in axes), kernel.shape[2])
    args = (x, kernel) if bias is None else (x, kernel, bias)
    return Conv2DTranspose.apply(*args, win=win, padded_shape=padded_shape)
