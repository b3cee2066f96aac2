"""``model.summary()``: tf.keras's table of layers, output shapes and parameter counts."""
from __future__ import annotations

import numpy as np


def _count(weights) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _size(n: int, itemsize: int = 4) -> str:
    b = float(n * itemsize)
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024


def _output_shape(layer):
    shape = getattr(layer, "_output_shape", None)
    if shape is None and getattr(layer, "_inbound_nodes", None):
        outs = layer._inbound_nodes[-1].outputs
        shape = outs.shape if hasattr(outs, "shape") else [o.shape for o in outs]
    if shape is None and hasattr(layer, "batch_shape"):
        shape = layer.batch_shape
    return "?" if shape is None else str(tuple(shape) if not isinstance(shape, list) else shape)


def summary(model, print_fn=None) -> None:
    print_fn = print_fn or print
    rows = [(f"{layer.name} ({type(layer).__name__})", _output_shape(layer),
             f"{layer.count_params() if layer.built else 0:,}") for layer in model.layers]
    widths = [max([31] + [len(r[0]) for r in rows]), max([22] + [len(r[1]) for r in rows]), 13]
    line = lambda l, m, r, fill="━": l + m.join(fill * (w + 2) for w in widths) + r  # noqa: E731
    lines = [f'Model: "{model.name}"', line("┏", "┳", "┓"),
             "┃ " + " ┃ ".join(h.ljust(w) if i < 2 else h.rjust(w)
                              for i, (h, w) in enumerate(zip(("Layer (type)", "Output Shape", "Param #"), widths)))
             + " ┃", line("┡", "╇", "┩")]
    for i, (name, shape, params) in enumerate(rows):
        lines.append(f"│ {name.ljust(widths[0])} │ {shape.ljust(widths[1])} │ {params.rjust(widths[2])} │")
        lines.append(line("├", "┼", "┤", "─") if i < len(rows) - 1 else line("└", "┴", "┘", "─"))
    if not rows:
        lines.append(line("└", "┴", "┘", "─"))
    trainable = _count(model.trainable_weights)
    total = _count(model.weights)
    lines += [f" Total params: {total:,} ({_size(total)})",
              f" Trainable params: {trainable:,} ({_size(trainable)})",
              f" Non-trainable params: {total - trainable:,} ({_size(total - trainable)})"]
    print_fn("\n".join(lines))
