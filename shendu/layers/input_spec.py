"""``InputSpec``: what a layer accepts (rank, known axis sizes), checked at every call with a teaching error.

A layer sets ``self.input_spec = InputSpec(ndim=4, layout="(batch, height, width, channels)")`` in
``__init__`` (or in ``build`` once sizes are known, e.g. ``axes={-1: 64}``); ``Layer.__call__``
checks real and symbolic inputs against it before anything runs, so a wrong input is named in the
layer's own terms instead of failing deep inside an op.
"""
from __future__ import annotations

from shendu.layers.symbolic import flatten_shapes, shape_str, standardize_shape


class InputSpec:
    """Constraints on one input: ``ndim`` / ``min_ndim`` / ``max_ndim`` (rank, batch axis included),
    ``shape`` (None where any size goes), ``axes`` ({axis: size}), ``dtype``; ``layout`` names the axes
    in error messages, e.g. "(batch, time, features)". ``optional`` inputs may be None."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False, layout=None):
        self.dtype = dtype
        self.shape = standardize_shape(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name, self.optional, self.layout = name, optional, layout
        for axis in self.axes:
            rank = self.ndim if self.ndim is not None else self.max_ndim
            if rank is not None and not -rank <= axis < rank:
                raise ValueError(f"InputSpec axes {self.axes} name axis {axis}, outside an input of rank {rank}.")

    def __repr__(self):
        fields = {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                  "min_ndim": self.min_ndim, "axes": self.axes or None}
        return "InputSpec(" + ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None) + ")"

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def check_input_spec(layer, specs, shapes) -> None:
    """Raise a ValueError naming the layer, the expectation and the shape given when an input breaks its spec.

    ``specs`` is one InputSpec or a list (one per input); ``shapes`` the inputs' shapes (batch axis
    as given: None for a symbolic input of unknown batch).
    """
    if specs is None:
        return
    spec_list = list(specs) if isinstance(specs, (list, tuple)) else [specs]
    shape_list = flatten_shapes(shapes)
    if len(shape_list) != len(spec_list):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects {len(spec_list)} input(s) but was "
                         f"called on {len(shape_list)}: {[shape_str(s) for s in shape_list]}.")
    for index, (spec, shape) in enumerate(zip(spec_list, shape_list)):
        if spec is None or (shape is None and spec.optional):
            continue
        if shape is None:
            raise ValueError(f"Input {index} of layer '{layer.name}' ({type(layer).__name__}) is None but its "
                             f"InputSpec is not optional.")
        _check_one(layer, spec, standardize_shape(shape), index if len(spec_list) > 1 else None)


def _check_one(layer, spec, shape, index) -> None:
    which = f"input {index} of " if index is not None else ""
    who = f"{which}{type(layer).__name__} layer '{layer.name}'"
    layout = f" {spec.layout}" if spec.layout else ""
    rank = len(shape)
    if spec.ndim is not None and rank != spec.ndim:
        raise ValueError(f"The {who} expects inputs of rank {spec.ndim}{layout} but got shape {shape_str(shape)} "
                         f"(rank {rank}).{_rank_hint(spec.ndim, rank)}")
    if spec.min_ndim is not None and rank < spec.min_ndim:
        raise ValueError(f"The {who} expects inputs of rank {spec.min_ndim} or more{layout} but got shape "
                         f"{shape_str(shape)} (rank {rank}).")
    if spec.max_ndim is not None and rank > spec.max_ndim:
        raise ValueError(f"The {who} expects inputs of rank {spec.max_ndim} or less{layout} but got shape "
                         f"{shape_str(shape)} (rank {rank}).")
    for axis, size in spec.axes.items():
        got = shape[axis] if -rank <= axis < rank else None
        if size is not None and got is not None and got != size:
            raise ValueError(f"The {who} expects size {size} on axis {axis}{layout} (the size it was built "
                             f"for) but got shape {shape_str(shape)}.")
    if spec.shape is not None:
        for expected, got in zip(spec.shape, shape):
            if expected is not None and got is not None and expected != got:
                raise ValueError(f"The {who} expects inputs of shape {shape_str(spec.shape)} (None: any size) but "
                                 f"got {shape_str(shape)}.")


def _rank_hint(expected: int, got: int) -> str:
    if got == expected - 1:
        return " Add the missing axis, e.g. a channels axis of size 1 with Reshape or x[..., None]."
    if got > expected:
        return " Flatten or reshape the extra axes first."
    return ""
