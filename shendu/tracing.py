"""``shendu.trace``: the numbers of every op, forward and backward, for a learner to read.

    with shendu.trace() as t:
        loss = model.train_on_batch(x, y)
    print(t)                    # forward top to bottom, then backward bottom to top
    t.to_markdown(); t.to_html("trace.html")

Each op run inside the block is recorded with its name, the formula from its docstring, the layer it
belongs to, the shapes, and copies of its input and output values (forward) or of its incoming and
outgoing gradients (backward). Small tensors are shown in full, larger ones as min/mean/max. It watches
the engine through ``autograd.observe``; outside the block the engine pays one flag test per op.
"""
from __future__ import annotations

import html
import inspect

import numpy as np

from shendu import autograd, backend


def formula(function_class) -> str:
    """The formula line of an op: the first paragraph of its class docstring, on one line."""
    doc = inspect.getdoc(function_class) or ""
    return " ".join(doc.split("\n\n")[0].split())


class Step:
    """One op's forward or backward as recorded: arrays are NumPy copies taken when the op ran.

    forward:  ``inputs`` (the op's operands) and ``outputs``;
    backward: ``inputs`` are the incoming gradients (one per output, None where none arrived) and
              ``outputs`` the outgoing ones (one per operand, summed to the operand's shape, None where
              the operand needs none).
    ``names`` labels the operands: a weight's path (``dense/kernel``) or ``x0``, ``x1``...
    """

    _fn = None

    def __init__(self, index, phase, op, formula_text, layer, names, inputs, outputs):
        self.index, self.phase, self.op, self.formula, self.layer = index, phase, op, formula_text, layer
        self.names, self.inputs, self.outputs = names, inputs, outputs

    def __repr__(self):
        return f"Step({self.index}, {self.phase}, {self.op}, layer={self.layer!r})"


def _copy(a):
    return None if a is None else np.array(backend.to_numpy(a), copy=True)


def describe(a, small: int = 10, digits: int = 4) -> str:
    """A tensor as text: all values when it has at most ``small`` elements, else min/mean/max."""
    if a is None:
        return "-"
    if a.size <= small:
        body = np.array2string(np.asarray(a, dtype="float64") if a.dtype.kind in "fc" else a, precision=digits,
                               separator=", ", suppress_small=False, max_line_width=10_000)
        return " ".join(body.split())
    if a.dtype.kind not in "biuf":
        return f"{a.dtype}"
    a64 = a.astype("float64")
    return f"min {a64.min():.{digits}g}, mean {a64.mean():.{digits}g}, max {a64.max():.{digits}g}"


def _names(tensors, count) -> list[str]:
    """An operand's label: a weight's path (``dense/kernel``), else ``x0``, ``x1``..."""
    named = [getattr(x, "path", None) for x in tensors] or [None] * count
    return [name or f"x{i}" for i, name in enumerate(named)]


def _grad_name(name: str) -> str:
    """The gradient's label: ``dx0`` for an operand, ``d(dense/kernel)`` for a weight."""
    return f"d({name})" if "/" in name else f"d{name}"


def _shape(a) -> str:
    return "-" if a is None else "(" + ", ".join(str(n) for n in a.shape) + ("," if a.ndim == 1 else "") + ")"


class Trace:
    """Records every op run inside ``with shendu.trace() as t:`` (see the module docstring).

    Args:
        small: tensors with at most this many elements are shown value by value.
        max_ops: stop recording after this many forward ops (every value is copied, so tracing a whole
            ``fit`` would fill the memory); None records everything. ``truncated`` says whether it stopped.
    Attributes:
        forward: the forward steps in the order they ran.
        backward: the backward steps in the order they ran (last op first).
    """

    def __init__(self, small: int = 10, max_ops: int | None = 2000):
        self.small, self.max_ops = small, max_ops
        self.truncated = False
        self.forward: list[Step] = []
        self.backward: list[Step] = []
        self._by_fn: dict[int, tuple] = {}      # id(fn) -> (fn, its forward step); fn kept so its id stays unique
        self._context = None

    # ------------------------------------------------------------ the observer protocol (autograd)
    def __enter__(self):
        self._context = autograd.observe(self)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        return False

    def span_begin(self, name, kind):
        pass

    def span_end(self, name, kind):
        pass

    def begin(self, phase, fn, arrays, layer):
        pass

    def end(self, phase, fn, arrays, result, layer):
        op = type(fn).__name__
        if phase == "forward" and self.max_ops is not None and len(self.forward) >= self.max_ops:
            self.truncated = True
            return
        if phase == "backward" and id(fn) not in self._by_fn and self.truncated:
            return                                      # the backward of an op that was not recorded
        if phase == "forward":
            outs = result if isinstance(result, tuple) else (result,)
            step = Step(len(self.forward) + 1, phase, op, formula(type(fn)), layer,
                        None, [_copy(a) for a in arrays], [_copy(y) for y in outs])
            step._fn = fn                               # its operand tensors name the weights, when shown
            self.forward.append(step)
            self._by_fn[id(fn)] = (fn, step)
            return
        grads = result if isinstance(result, (tuple, list)) else (result,)
        tensors = fn.inputs or ()
        names = _names(getattr(fn, "_operands", None) or tensors, len(tensors))
        outgoing = []
        for x, need, g in zip(tensors, fn.needs, grads):
            g = None if (g is None or not need) else backend.xp.asarray(g)
            if g is not None and g.shape != x.data.shape:
                g = autograd.sum_to(g, x.data.shape)    # what the engine delivers to the operand
            outgoing.append(_copy(g))
        known = self._by_fn.get(id(fn))
        index = known[1].index if known else 0
        if known:
            known[1].names = names
        self.backward.append(Step(index, phase, op, formula(type(fn)), layer, names,
                                  [_copy(g) for g in arrays], outgoing))

    # ------------------------------------------------------------ what a learner asks of it
    def weight_gradients(self) -> dict:
        """``{weight path: dL/dW}`` summed over every op that used the weight during the traced backward."""
        grads: dict = {}
        for step in self.backward:
            for name, g in zip(step.names, step.outputs):
                if g is not None and "/" in name:
                    grads[name] = g if name not in grads else grads[name] + g
        return grads

    def rows(self) -> list[dict]:
        """One dict per step, forward in running order then backward from the last op to the first."""
        out = []
        for step in self.forward:
            if step.names is None:
                step.names = _names(step._fn._operands, len(step.inputs))
        for step in self.forward + self.backward:
            parts_in = [f"{n} {_shape(a)}: {describe(a, self.small)}" for n, a in
                        zip(step.names if step.phase == "forward" else
                            ["dy"] if len(step.inputs) == 1 else [f"dy{i}" for i in range(len(step.inputs))],
                            step.inputs)]
            if step.phase == "forward":
                parts_out = [f"y{'' if len(step.outputs) == 1 else i} {_shape(a)}: {describe(a, self.small)}"
                             for i, a in enumerate(step.outputs)]
            else:
                parts_out = [f"{_grad_name(n)} {_shape(a)}: {describe(a, self.small)}"
                             for n, a in zip(step.names, step.outputs) if a is not None]
            shapes_in = ", ".join(_shape(a) for a in step.inputs)
            shapes_out = ", ".join(_shape(a) for a in step.outputs if a is not None)
            out.append({"#": str(step.index), "phase": step.phase, "layer": step.layer or "-", "op": step.op,
                        "formula": step.formula, "shapes": f"{shapes_in} -> {shapes_out}",
                        "in": "; ".join(parts_in), "out": "; ".join(parts_out)})
        return out

    _COLUMNS = ("#", "phase", "layer", "op", "shapes", "in", "out", "formula")

    def __str__(self):
        rows = self.rows()
        if not rows:
            return "Trace: no op ran inside the block."
        width = {c: min(60, max(len(c), *(len(r[c]) for r in rows))) for c in self._COLUMNS}

        def cell(c, text):
            return (text if len(text) <= width[c] else text[:width[c] - 1] + "…").ljust(width[c])

        lines = [f"Trace: {len(self.forward)} ops forward (top to bottom), {len(self.backward)} backward "
                 "(bottom to top)" + (f"; recording stopped after {self.max_ops} ops (max_ops)" if self.truncated
                                      else "")]
        head = "  ".join(cell(c, c) for c in self._COLUMNS).rstrip()
        lines += [head, "-" * len(head)]
        for i, r in enumerate(rows):
            if i == len(self.forward) and self.backward:
                lines.append("-" * len(head))
            lines.append("  ".join(cell(c, r[c]) for c in self._COLUMNS).rstrip())
        return "\n".join(lines)

    __repr__ = __str__

    def to_markdown(self) -> str:
        """The table in Markdown (every value in full), for notebooks and docs."""
        def esc(text):
            return text.replace("|", "\\|").replace("\n", " ")
        lines = ["| " + " | ".join(self._COLUMNS) + " |", "|" + "---|" * len(self._COLUMNS)]
        lines += ["| " + " | ".join(esc(r[c]) for c in self._COLUMNS) + " |" for r in self.rows()]
        return "\n".join(lines) + "\n"

    def to_html(self, path=None) -> str:
        """The table as a standalone HTML page; written to ``path`` when given. Returns the HTML."""
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self._COLUMNS)
        body = "\n".join(
            f'<tr class="{r["phase"]}">' + "".join(f"<td>{html.escape(r[c])}</td>" for c in self._COLUMNS) + "</tr>"
            for r in self.rows())
        page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>shendu trace</title><style>"
                "body{font-family:sans-serif}table{border-collapse:collapse;font-size:13px}"
                "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;font-family:monospace}"
                "tr.backward{background:#f4f7ff}</style></head><body>\n"
                f"<h1>shendu trace</h1><p>{len(self.forward)} ops forward (top to bottom), {len(self.backward)} "
                f"backward (bottom to top).</p>\n<table><tr>{head}</tr>\n{body}\n</table></body></html>\n")
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(page)
        return page


def trace(small: int = 10, max_ops: int | None = 2000) -> Trace:
    """``with shendu.trace() as t:`` records every op run in the block; ``print(t)`` shows them."""
    return Trace(small=small, max_ops=max_ops)
