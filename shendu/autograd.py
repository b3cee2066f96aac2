"""Reverse-mode automatic differentiation, define-by-run.

Each op is a ``Function`` whose ``forward`` computes on arrays and whose ``backward`` turns the
gradient of its output into gradients of its inputs (the chain rule, one link at a time). Calling
an op records the function on its outputs (``tensor.creator``); ``backward`` walks that graph in
reverse topological order without recursion, sums each gradient back to its input's broadcast
shape and accumulates it when a tensor feeds several ops. The chores live here, once.
"""
from __future__ import annotations

import contextlib
import threading

from shendu import backend
from shendu.tensor import Tensor, as_tensor


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _mode.enabled


class _SetGradMode(contextlib.ContextDecorator):
    """A block (or, as a decorator, a function) run with recording on or off; a class rather than a
    generator because fit enters one every step."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.previous = []

    def _recreate_cm(self):          # each decorated call gets its own block
        return type(self)(self.enabled)

    def __enter__(self):
        self.previous.append(_mode.enabled)
        _mode.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _mode.enabled = self.previous.pop()
        return False


def no_grad():
    """Run ops without recording them: for inference and for weight updates."""
    return _SetGradMode(False)


def enable_grad():
    """Record ops again inside a ``no_grad`` block."""
    return _SetGradMode(True)


# ---------------------------------------------------------------- observers (trace, profiler)
# Observers watch every op: ``begin(phase, fn, arrays, layer)`` before and ``end(phase, fn, arrays, result,
# layer)`` after each forward and backward, ``span_begin(name, kind)``/``span_end(name, kind)`` around each
# layer's call (kind "layer") and each named block (kind "user": the backward walk, an optimizer step).
# With none active the engine pays one truth test of this list per op.
_observers: list = []
_layers: list = []      # names of the layers being called, outermost first; kept only while observed


_NULL = contextlib.nullcontext()   # what layer_scope and span return when nobody watches


@contextlib.contextmanager
def observe(observer):
    """Let ``observer`` see every op (and every layer call) run inside the block."""
    _observers.append(observer)
    try:
        yield observer
    finally:
        _observers.remove(observer)


@contextlib.contextmanager
def _span(name, kind):
    if kind == "layer":
        _layers.append(name)
    for o in _observers:
        o.span_begin(name, kind)
    try:
        yield
    finally:
        for o in reversed(_observers):
            o.span_end(name, kind)
        if kind == "layer":
            _layers.pop()


def layer_scope(name):
    """Mark the ops run inside as belonging to layer ``name``; a shared no-op unless an observer is active."""
    return _span(name, "layer") if _observers else _NULL


def span(name):
    """A named block (the backward walk, an optimizer step) that observers time; a no-op without them."""
    return _span(name, "user") if _observers else _NULL


def _observed(phase, fn, method, arrays):
    """Run ``method(*arrays)`` (an op's forward or backward) with every observer told before and after.
    A forward gets the operand tensors (kept as ``fn._operands``, so a trace can name the weights)."""
    if phase == "forward":
        fn._layer_path = "/".join(_layers)
        fn._operands = arrays
        arrays = [x.data for x in arrays]
    layer = getattr(fn, "_layer_path", "")
    for o in _observers:
        o.begin(phase, fn, arrays, layer)
    result = method(*arrays)
    for o in reversed(_observers):
        o.end(phase, fn, arrays, result, layer)
    return result


def _sum_axes(g, axes):
    """g summed over ``axes``, kept as size 1. An inner axis of a few values (an upsampling's repeats) is summed
    by adding its slices: NumPy's reduction over such an axis ran at a third of the speed of memory."""
    few = [a for a in axes if g.shape[a] <= 8 and a != g.ndim - 1]
    rest = tuple(a for a in axes if a not in few)
    if rest:
        g = g.sum(axis=rest, keepdims=True)
    for a in few:
        total = g[(slice(None),) * a + (slice(0, 1),)].copy()
        for k in range(1, g.shape[a]):
            total += g[(slice(None),) * a + (slice(k, k + 1),)]
        g = total
    return g


def sum_to(g, shape):
    """Sum a broadcast gradient back to ``shape``: d(x + y)/dx sums over the broadcast axes."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead >= 0:
        axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
        if axes:
            g = _sum_axes(g, axes)
        if lead:
            g = g.reshape(g.shape[lead:])
    if g.shape != tuple(shape):   # never reshape a wrong gradient into place: that hides a broken backward
        raise ValueError(f"A gradient of shape {g.shape} cannot be summed back to its input's shape "
                         f"{tuple(shape)}: the op's backward returned a gradient of the wrong shape.")
    return g


class Function:
    """One differentiable op: ``forward`` on arrays, then ``backward`` from output to input grads.

    Subclasses keep what backward needs with ``self.save(...)`` and read it from ``self.saved``;
    ``self.needs[i]`` says whether input ``i`` wants a gradient, so backward can skip work.
    A backward returns one gradient per input (``None`` where not needed).
    """

    inputs = saved = _grads = None
    needs = ()
    n_out = 1

    def save(self, *arrays):
        self.saved = arrays

    def forward(self, *xs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *gys):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on tensors (or array-likes) and record it when a gradient is needed."""
        fn = cls.__new__(cls)
        if params:
            fn.__dict__.update(params)
        xs = [x if isinstance(x, Tensor) else as_tensor(x) for x in inputs]
        try:
            if _observers:
                ys = _observed("forward", fn, fn.forward, xs)
            else:
                ys = fn.forward(*[x.data for x in xs])
        except ValueError as error:
            if "broadcast" not in str(error):
                raise
            raise _broadcast_error(cls, xs) from error
        needs = [x.requires_grad for x in xs] if _mode.enabled else None
        record = needs is not None and True in needs
        if not isinstance(ys, tuple):
            out = Tensor._wrap(ys, record)
            if record:
                fn.inputs, fn.needs = xs, needs
                out.creator = fn
            return out
        outs = tuple(Tensor._wrap(y, record) for y in ys)
        if record:
            fn.inputs, fn.needs, fn.n_out = xs, needs, len(outs)
            for i, out in enumerate(outs):
                out.creator, out._index = fn, i
        return outs


class BroadcastError(ValueError):
    """Operands whose shapes do not broadcast; ``layer`` is the layer whose call ran the op, once it is named."""

    def __init__(self, message, layer=None):
        super().__init__(message)
        self.layer = layer


def _broadcast_error(cls, xs) -> ValueError:
    """NumPy's "could not be broadcast" retold with the op and both shapes, and the rule and fix."""
    shapes = " and ".join(str(tuple(x.shape)) for x in xs)
    return BroadcastError(f"{cls.__name__.lower()}: shapes {shapes} cannot be combined elementwise. Broadcasting lines "
                      "shapes up from the last axis, and each pair of sizes must be equal or one of them 1. Check "
                      "the shapes, e.g. reshape one operand or add a size-1 axis (x[:, None]) where it should repeat.")


def _topological_order(roots):
    """Functions reachable from ``roots``, consumers before producers (iterative DFS, no recursion)."""
    order, seen = [], set()                 # Functions hash by identity
    for root in roots:
        if root is None or root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.inputs or ()))]
        while stack:
            fn, it = stack[-1]
            for x in it:
                parent = x.creator
                if parent is not None and parent not in seen:
                    seen.add(parent)
                    stack.append((parent, iter(parent.inputs or ())))
                    break
            else:
                stack.pop()
                order.append(fn)
    order.reverse()
    return order


def run_backward(outputs, grad_outputs, retain_graph=False, wanted=None, accumulate=True):
    """Propagate ``grad_outputs`` from ``outputs`` to every leaf (``.grad``) or to ``wanted``.

    Returns the list of gradients for ``wanted`` (arrays or None) when it is given.
    """
    backend.fit_threads_to_load()           # once per backward pass: threads for the cores free now
    with backend.hold_blas():               # BLAS on one thread where shendu's own pool splits the work
        if not _observers:
            return _run_backward(outputs, grad_outputs, retain_graph, wanted, accumulate)
        with span("autograd.backward"):     # a profiler sees the whole walk as one block
            return _run_backward(outputs, grad_outputs, retain_graph, wanted, accumulate)


def _run_backward(outputs, grad_outputs, retain_graph, wanted, accumulate):
    result = [None] * len(wanted) if wanted is not None else None
    wanted_ids = {id(t): i for i, t in enumerate(wanted)} if wanted is not None else {}

    def deliver(x, g):
        data = x.data
        if g.dtype != data.dtype:
            g = g.astype(data.dtype)
        if g.shape != data.shape:
            g = sum_to(g, data.shape)
        if wanted_ids:
            i = wanted_ids.get(id(x))
            if i is not None:
                result[i] = g if result[i] is None else result[i] + g
        fn = x.creator
        if fn is not None:
            grads, k = fn._grads, x._index
            grads[k] = g if grads[k] is None else grads[k] + g
        elif accumulate and x.requires_grad:
            # a leaf's first gradient becomes its own array: never a view, a read-only broadcast, or an array
            # that another leaf (Add gives gy to both inputs) or the caller also holds
            if x.grad is None and (id(g) in leaf_arrays or g.base is not None
                                   or not getattr(g.flags, "writeable", True)):
                g = g.copy()
            leaf_arrays.add(id(g))
            x._accumulate(g)

    leaf_arrays = {id(g) for g in grad_outputs}       # the caller's arrays, and those given to a leaf already
    roots = []
    for out, g in zip(outputs, grad_outputs):
        if out.creator is None:
            deliver(out, g)
        else:
            roots.append(out.creator)
    order = _topological_order(roots)
    for fn in order:
        if fn._grads is None or len(fn._grads) != fn.n_out:
            fn._grads = [None] * fn.n_out
    for out, g in zip(outputs, grad_outputs):
        if out.creator is not None:
            deliver(out, g)

    # a tape's gradient(target, sources) needs only the ops on a path to a source: a GAN's discriminator
    # step skips the generator that made its input, and each op skips input gradients nobody asked for
    leads = None
    if wanted is not None and not accumulate:
        leads = {}                                       # fn -> which of its inputs lead to a wanted tensor
        for fn in reversed(order):                       # producers before consumers
            if fn.inputs is not None:
                lead = [n and (id(x) in wanted_ids or x.creator in leads) for x, n in zip(fn.inputs, fn.needs)]
                if True in lead:
                    leads[fn] = lead

    xp = backend.xp
    for fn in order:
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(
                "Trying to backpropagate through a graph a second time: its saved values were freed "
                "by the first backward(). Call backward(retain_graph=True) the first time if you need "
                "to go through it again.")
        gys = fn._grads
        fn._grads = None
        needs = fn.needs if leads is None else leads.get(fn)
        if needs is None or (gys[0] is None if len(gys) == 1 else all(g is None for g in gys)):
            continue
        recorded, fn.needs = fn.needs, needs             # for this call only: the graph may serve another tape
        try:
            gxs = fn.backward(*gys) if not _observers else _observed("backward", fn, fn.backward, gys)
        finally:
            fn.needs = recorded
        if not isinstance(gxs, (tuple, list)):
            gxs = (gxs,)
        for x, need, g in zip(inputs, needs, gxs):
            if need and g is not None:
                deliver(x, xp.asarray(g))
        if not retain_graph:
            fn.inputs = None
            fn.saved = None
    return result
