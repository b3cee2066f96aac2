"""Masks on symbolic tensors: ``keras.backend.get_keras_mask(y)`` on a layer output in functional code.

Masks are computed on real tensors (``compute_mask`` works on arrays). For a symbolic call the layer's
``compute_mask`` is run once on a probe, zeros of the inputs' shapes with all-True masks, only to learn
whether the output carries a mask and of which rank. The output then remembers its mask's shape; reading
``_keras_mask`` makes a graph node (``OutputMask``) that returns the real output's mask when the model runs,
so a model can output the mask, as in Keras 3.
"""
from __future__ import annotations

from shendu import backend
from shendu.layers.symbolic import KerasTensor, flatten, map_structure, trial_dtype, trial_shape
from shendu.tensor import Tensor


def _probe(shape, dtype):
    # a batch of one; unknown axes are 1 (only the rank of the mask is read back)
    return Tensor._wrap(backend.xp.zeros(tuple(1 if d is None else d for d in shape), dtype), False)


def attach_symbolic_masks(layer, inputs, kwargs, outputs, default_compute_mask) -> None:
    """Give the symbolic ``outputs`` of ``layer`` the masks real outputs would get (their shapes only)."""
    if "mask" in kwargs:
        return          # an explicit symbolic mask argument: not followed
    masked = any(isinstance(t, KerasTensor) and t._mask_shape is not None for t in flatten(inputs))
    if not masked and type(layer).compute_mask is default_compute_mask:
        return          # nothing masked comes in and the default rule makes no mask
    mask = map_structure(lambda t: backend.xp.ones(tuple(1 if d is None else d for d in t._mask_shape), bool)
                         if isinstance(t, KerasTensor) and t._mask_shape is not None else None,
                         inputs) if masked else None
    try:
        probe = map_structure(lambda t: _probe(t.shape, t.dtype) if isinstance(t, KerasTensor) else t, inputs)
        out_mask = layer.compute_mask(probe, mask)
    except Exception:   # inputs with no zeros (strings), or a compute_mask that needs real values: no mask
        return
    if out_mask is None:
        return
    masks = list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask]
    for out, m in zip(flatten(outputs), masks):
        if isinstance(out, KerasTensor) and m is not None:
            # the mask covers the output's leading axes (batch, time, ...): take their sizes from the output
            rank = len(m.shape)
            out._mask_shape = tuple(out.shape[:rank]) + tuple(m.shape[len(out.shape):])


def trial_tensor(t, batch: int, fill: int):
    """Zeros in place of a KerasTensor for a dry run (unknown axes: ``batch`` then ``fill``), with an all-True
    mask when a real tensor there would carry one, so that a layer whose ``call`` takes ``mask`` gets one."""
    if not isinstance(t, KerasTensor):
        return t
    x = Tensor._wrap(backend.xp.zeros(trial_shape(t.shape, batch, fill), trial_dtype(t.dtype)), False)
    if t._mask_shape is not None:
        x._keras_mask = backend.xp.ones(trial_shape(t._mask_shape, batch, fill), bool)
    return x
