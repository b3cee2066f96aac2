"""Masks in the functional API. A symbolic tensor that will carry a mask when the model runs (the output
of ``Embedding(mask_zero=True)``, of ``Masking``, or of a layer passing its input's mask on) is given a
symbolic ``_keras_mask`` as in Keras 3, so that a layer whose ``call`` takes ``mask`` receives one while
the graph is being built (its dry runs get an all-True mask of the trial shape)."""
from __future__ import annotations

from shendu import autograd, backend
from shendu.layers.symbolic import TRIAL_SIZES, KerasTensor, flatten, map_structure, trial_dtype, trial_shape
from shendu.tensor import Tensor


def trial_tensor(t, batch: int, fill: int):
    """Zeros in place of a KerasTensor (unknown axes: ``batch`` then ``fill``), with an all-True mask
    when the symbolic tensor carries one."""
    if not isinstance(t, KerasTensor):
        return t
    x = Tensor._wrap(backend.xp.zeros(trial_shape(t.shape, batch, fill), trial_dtype(t.dtype)), False)
    mask = getattr(t, "_keras_mask", None)
    if isinstance(mask, KerasTensor):
        x._keras_mask = backend.xp.ones(trial_shape(mask.shape, batch, fill), bool)
    return x


def has_symbolic_mask(inputs) -> bool:
    """Whether any symbolic input carries a mask."""
    return any(isinstance(getattr(t, "_keras_mask", None), KerasTensor) for t in flatten(inputs))


def mark_output_mask(layer, inputs, outputs) -> None:
    """Give the first symbolic output a symbolic mask when ``layer.compute_mask`` returns one for trial
    inputs; a compute_mask that needs real values leaves the output unmasked."""
    first = next((t for t in flatten(outputs) if isinstance(t, KerasTensor)), None)
    if first is None:
        return
    batch, fill = TRIAL_SIZES[0]
    try:
        with autograd.no_grad():
            trial = map_structure(lambda t: trial_tensor(t, batch, fill), inputs)
            masks = map_structure(lambda t: getattr(t, "_keras_mask", None), trial)
            mask = masks if any(m is not None for m in flatten(masks)) else None
            out_mask = layer.compute_mask(trial, mask)
    except Exception:      # noqa: BLE001 - a mask computed from values cannot be known symbolically
        return
    if isinstance(out_mask, (list, tuple)):
        out_mask = out_mask[0] if out_mask else None
    if out_mask is None or not hasattr(out_mask, "shape"):
        return
    shape = tuple(None if i == 0 or (i < len(first.shape) and first.shape[i] is None) else int(d)
                  for i, d in enumerate(out_mask.shape))
    first._keras_mask = KerasTensor(shape, "bool")
