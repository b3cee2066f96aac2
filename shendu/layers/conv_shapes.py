"""Output shapes of convolution and pooling layers, from the input shape alone (unknown axes stay None).

  conv, 'valid'            out = (in - k_eff) // stride + 1,   k_eff = (k - 1) * dilation + 1
  conv, 'same'/'causal'    out = ceil(in / stride)
  transposed, no output_padding:  'valid' in * stride + max(k_eff - stride, 0),  'same' in * stride
  transposed, output_padding p:   (in - 1) * stride + k_eff - 2 * (k_eff // 2 if 'same' else 0) + p
"""
from __future__ import annotations


def conv_length(size, k: int, stride: int, dilation: int, padding: str):
    """The output size of a convolution or pooling window along one axis (None stays None)."""
    if size is None:
        return None
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        return (size - k_eff) // stride + 1
    return -(-size // stride)


def transpose_length(size, k: int, stride: int, dilation: int, padding: str, output_padding=None):
    """The output size of a transposed convolution along one axis (None stays None)."""
    if size is None:
        return None
    k_eff = (k - 1) * dilation + 1
    if output_padding is None:
        return size * stride + max(k_eff - stride, 0) if padding == "valid" else size * stride
    return (size - 1) * stride + k_eff - 2 * (k_eff // 2 if padding == "same" else 0) + output_padding


def spatial_axes(rank: int, data_format: str) -> list[int]:
    """The positions of the spatial axes in a (batch, ..., channels) or channels_first shape."""
    first = 2 if data_format == "channels_first" else 1
    return list(range(first, first + rank))


def conv_output_shape(layer, input_shape, channels_out) -> tuple:
    """(batch, *out, channels_out) (or channels_first) for a conv-like layer with kernel_size, strides,
    padding, dilation_rate, data_format, and ``transpose``/``output_padding`` when it is transposed."""
    shape = list(input_shape)
    rank = len(layer.kernel_size)
    if len(shape) != rank + 2:
        raise ValueError(f"{type(layer).__name__} expects inputs of rank {rank + 2}, got shape {tuple(input_shape)}.")
    axes = spatial_axes(rank, layer.data_format)
    extra = getattr(layer, "output_padding", None) or (None,) * rank
    for i, axis in enumerate(axes):
        if getattr(layer, "transpose", False):
            shape[axis] = transpose_length(shape[axis], layer.kernel_size[i], layer.strides[i],
                                           layer.dilation_rate[i], layer.padding, extra[i])
        else:
            shape[axis] = conv_length(shape[axis], layer.kernel_size[i], layer.strides[i],
                                      layer.dilation_rate[i], layer.padding)
    shape[1 if layer.data_format == "channels_first" else -1] = channels_out
    return tuple(shape)
