"""The op table runner: each row names an op, its NumPy reference, input shapes and a safe domain.

``check_row`` checks one row on one set of input shapes three ways:

1. forward in float64 against the NumPy reference;
2. forward and backward in float32: the output and every gradient stay float32 (and the values
   agree with the reference to float32 accuracy);
3. ``shendu.testing.gradcheck`` (float64 central differences) on every float input.

A new op is a new row in the test module of its family, not a new file of copied tests.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Callable, Sequence

import numpy as np
import pytest

import shendu as sd
from shendu.testing import assert_close, gradcheck


@dataclasses.dataclass
class Row:
    """One op in the table.

    Args:
        name: the op's name (test ids are ``name-shapes``).
        fn: the shendu computation, Tensors in, one Tensor out.
        ref: the NumPy reference, float64 arrays in, one array out.
        shapes: one tuple of input shapes per case, e.g. ``[((3, 4), (4,)), ((3, 1, 4), (2, 1))]``.
        domain: where inputs are drawn: ``(low, high)`` or a sampler ``(rng, shape) -> array``;
            a list gives one domain per input.
        kinks: points where ``fn`` is not differentiable; uniform inputs are moved 0.05 away from them.
        grad: run gradcheck (False for ops without a useful gradient).
        float32: also run in float32 and require float32 outputs and gradients (False for casts, and for
            dropout, whose random stream depends on the dtype so the float64 reference does not apply).
        atol, rtol: gradcheck tolerances.
    """
    name: str
    fn: Callable
    ref: Callable
    shapes: Sequence[tuple]
    domain: object = (-2.0, 2.0)
    kinks: tuple = ()
    grad: bool = True
    float32: bool = True
    atol: float = 1e-6
    rtol: float = 1e-4


def signed(low: float, high: float):
    """Magnitudes in [low, high] with random signs: keeps inputs away from 0 (abs, division)."""
    def sample(rng, shape):
        return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)
    return sample


def distinct(low: float, high: float):
    """Values in [low, high] at least (high - low) / (2 n) apart: no ties for max, min, sort."""
    def sample(rng, shape):
        n = int(np.prod(shape, dtype=int))
        u = (rng.permutation(n) + 0.25 + 0.5 * rng.random(n)) / max(n, 1)
        return (low + (high - low) * u).reshape(shape)
    return sample


def sample_inputs(row: Row, shapes: tuple, seed: int = 0) -> list:
    """Float64 inputs for ``row`` with the given shapes, drawn from its domain."""
    rng = np.random.default_rng(seed)
    xs = []
    for i, shape in enumerate(shapes):
        domain = row.domain[i] if isinstance(row.domain, list) else row.domain
        if callable(domain):
            x = np.asarray(domain(rng, shape), dtype=np.float64)
        else:
            x = rng.uniform(domain[0], domain[1], shape)
            for k in row.kinks:
                near = np.abs(x - k) < 0.05
                x = np.where(near, k + np.where(x >= k, 0.05, -0.05) + (x - k), x)
        xs.append(np.asarray(x, dtype=np.float64))
    return xs


def check_row(row: Row, shapes: tuple, seed: int = 0) -> None:
    """Forward vs the NumPy reference (float64 and float32), float32 kept, then gradcheck."""
    xs = sample_inputs(row, shapes, seed)
    expected = np.asarray(row.ref(*[x.copy() for x in xs]))

    got = row.fn(*[sd.tensor(x) for x in xs])
    assert isinstance(got, sd.Tensor), f"{row.name} returned {type(got).__name__}, not a Tensor"
    assert got.dtype == np.float64, f"{row.name}: float64 inputs gave {got.dtype}"
    assert_close(got, expected, atol=1e-9, rtol=1e-7, name=f"{row.name} forward (float64)")

    if row.float32:
        ts = [sd.tensor(x.astype(np.float32), requires_grad=True) for x in xs]
        y = row.fn(*ts)
        assert y.dtype == np.float32, f"{row.name}: float32 inputs gave a {y.dtype} output"
        assert_close(y, expected, atol=1e-5, rtol=1e-4, name=f"{row.name} forward (float32)")
        if y.requires_grad:
            y.backward(np.ones(y.shape, np.float32))
            for i, t in enumerate(ts):
                if t.grad is not None:
                    assert t.grad.dtype == np.float32, f"{row.name}: gradient of input {i} is {t.grad.dtype}"
                    assert t.grad.shape == t.shape, f"{row.name}: gradient of input {i} has shape " \
                                                    f"{t.grad.shape}, input {t.shape}"

    if row.grad:
        assert gradcheck(row.fn, *xs, atol=row.atol, rtol=row.rtol)


def _shape_id(shapes) -> str:
    return ",".join("x".join(map(str, s)) if s else "scalar" for s in shapes)


def cases(rows: Sequence[Row]) -> list:
    """``pytest.param(row, shapes)`` for every row and every shape case, with readable unique ids."""
    params = []
    for row in rows:
        for shapes in row.shapes:
            params.append(pytest.param(row, shapes, id=f"{row.name}-{_shape_id(shapes)}"))
    ids = [p.id for p in params]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"op table ids must be unique (a repeated id hides a case): {sorted(duplicates)}"
    return params


def assert_every_op_has_a_row(module, rows: Sequence[Row]) -> None:
    """Every public function defined in ``module`` names at least one row (``op`` or ``op_<variant>``)."""
    names = [r.name for r in rows]
    ops_defined = [name for name, f in vars(module).items()
                   if callable(f) and not isinstance(f, type) and not name.startswith("_")
                   and getattr(f, "__module__", None) == module.__name__]
    assert ops_defined, f"no ops found in {module.__name__}"
    missing = [op for op in ops_defined if not any(n == op or n.startswith(op + "_") for n in names)]
    assert not missing, f"{module.__name__}: ops without a row in the op table: {missing}"


# ---------------------------------------------------------------- the layer contract

def _swap_weights(layer, replacements):
    """Put ``replacements`` (Tensors) where ``layer.trainable_weights`` are, in the layer and its sublayers:
    their attributes (``self.kernel``) and weight lists. Returns the undo list for ``_restore``."""
    swap = {id(old): new for old, new in zip(layer.trainable_weights, replacements)}
    undo = []
    for owner in [layer] + layer._flat_layers():
        for key, value in list(vars(owner).items()):
            if id(value) in swap:
                undo.append((owner.__dict__, key, value))
        for i, value in enumerate(owner._own_weights):
            if id(value) in swap:
                undo.append((owner._own_weights, i, value))
    for container, key, value in undo:
        container[key] = swap[id(value)]
    return undo


def _restore(undo):
    for container, key, value in undo:
        container[key] = value


def call_with_weights(layer, inputs, weights, **call_kwargs):
    """``layer(inputs)`` computed with ``weights`` (Tensors, one per trainable weight) in place of the
    layer's own, so gradients flow to them (what ``gradcheck`` needs); the layer is unchanged afterwards."""
    undo = _swap_weights(layer, weights)
    try:
        return layer(inputs, **call_kwargs)
    finally:
        _restore(undo)


def layer_contract(make_layer, input_shape, expected_output_shape, expected_weight_shapes, *,
                   non_trainable: int = 0, call_kwargs=None, reference=None, domain=(-2.0, 2.0),
                   kinks: tuple = (), grad: bool = True, atol: float = 1e-6, rtol: float = 1e-4, seed: int = 0):
    """The check every layer passes (STYLE.md section 8). Returns the float32 layer it built.

    1. ``make_layer(dtype='float32')`` builds on its first call: output shape and dtype, weight shapes
       (tf.keras order and layouts), weight count, ``count_params``, the trainable split;
    2. ``get_config`` -> ``from_config`` gives an equal config and, after ``set_weights``, equal outputs;
    3. one training step: backward of a random projection of the outputs (a plain sum gives zero
       gradient for normalization scales and softmax) and an SGD update change every trainable weight
       and no non-trainable one;
    4. in float64 (``make_layer(dtype='float64')``): agreement with ``reference`` (NumPy, float64 inputs
       and weights in ``get_weights`` order) when given, and ``gradcheck`` w.r.t. the input(s) and every
       trainable weight.

    Args:
        make_layer: ``dtype -> Layer``, e.g. ``functools.partial(Dense, 3)``; a fresh layer per call.
        input_shape: the input's shape, batch included, or a list of shapes for a multi-input layer.
        expected_output_shape: the output's shape, batch included.
        expected_weight_shapes: the shapes of ``layer.weights``, in order.
        non_trainable: how many of those weights are non-trainable (BatchNormalization's moving statistics).
        call_kwargs: passed to every call, e.g. ``dict(training=True)``.
        domain, kinks: where inputs are drawn, as in an op-table ``Row``.
        grad: run the gradcheck (False for a layer without a useful gradient).
    """
    from shendu.optimizers import SGD

    call_kwargs = dict(call_kwargs or {})
    multi = isinstance(input_shape, list)
    shapes = tuple(input_shape) if multi else (input_shape,)
    sampler = Row("layer", None, None, [], domain=domain, kinks=kinks)
    xs64 = sample_inputs(sampler, shapes, seed)
    xs32 = [x.astype(np.float32) for x in xs64]

    def feed(xs):
        return list(xs) if multi else xs[0]

    # 1. build, output shape, weights
    layer = make_layer(dtype="float32")
    # a layer without weights is built at construction (Keras 3's stateless layers), the others on first call
    assert not layer.built or not layer.weights
    # the shape rule, asked before any call, with the batch axis unknown
    symbolic_in = [(None,) + tuple(s[1:]) for s in shapes]
    symbolic_out = layer.compute_output_shape(symbolic_in if multi else symbolic_in[0])
    y = layer(feed(xs32), **call_kwargs)
    assert layer.built, f"{type(layer).__name__} is not built after its first call"
    if not isinstance(y, (list, tuple)) and not call_kwargs:
        assert tuple(symbolic_out) == (None,) + tuple(y.shape[1:]), \
            f"{type(layer).__name__}: compute_output_shape gave {tuple(symbolic_out)} for an output {tuple(y.shape)}"
    assert tuple(y.shape) == tuple(expected_output_shape), \
        f"{type(layer).__name__}: output shape {tuple(y.shape)}, expected {tuple(expected_output_shape)}"
    assert y.dtype == np.float32, f"{type(layer).__name__}: float32 inputs gave a {y.dtype} output"
    got_shapes = [tuple(w.shape) for w in layer.weights]
    assert got_shapes == [tuple(s) for s in expected_weight_shapes], \
        f"{type(layer).__name__}: weight shapes {got_shapes}, expected {list(expected_weight_shapes)}"
    assert all(w.dtype == np.float32 for w in layer.weights)
    assert len(layer.get_weights()) == len(expected_weight_shapes)
    assert layer.count_params() == sum(int(np.prod(s)) for s in expected_weight_shapes)
    assert len(layer.non_trainable_weights) == non_trainable
    assert len(layer.trainable_weights) == len(expected_weight_shapes) - non_trainable

    # 2. config round trip
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, f"{type(layer).__name__}: from_config(get_config()) changed the config"
    clone(feed(xs32), **call_kwargs)
    clone.set_weights(layer.get_weights())
    assert_close(clone(feed(xs32), **call_kwargs), layer(feed(xs32), **call_kwargs), atol=1e-6, rtol=1e-6,
                 name=f"{type(layer).__name__} clone output")

    # 3. one training step
    trainable = layer.trainable_weights
    ts = [sd.tensor(x, requires_grad=True) for x in xs32]
    y = layer(feed(ts), **call_kwargs)
    v = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(np.float32)
    (y * sd.tensor(v)).sum().backward()
    for t in ts:
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == np.float32, \
            f"{type(layer).__name__}: no float32 input gradient of the input's shape"
    for w in trainable:
        assert w.grad is not None and w.grad.shape == w.shape and w.grad.dtype == np.float32, \
            f"{type(layer).__name__}: weight '{w.name}' has no float32 gradient of its shape"
    before = layer.get_weights()
    SGD(learning_rate=0.1).apply_gradients([(w.grad, w) for w in trainable])
    after = layer.get_weights()
    trainable_ids = {id(w) for w in trainable}
    for w, old, new in zip(layer.weights, before, after):
        if id(w) in trainable_ids:
            assert not np.array_equal(old, new), f"{type(layer).__name__}: SGD left '{w.name}' unchanged"
        else:
            assert np.array_equal(old, new), f"{type(layer).__name__}: SGD changed non-trainable '{w.name}'"

    # 4. float64: NumPy reference and gradcheck
    layer64 = make_layer(dtype="float64")
    y64 = layer64(feed(xs64), **call_kwargs)
    assert y64.dtype == np.float64 and all(w.dtype == np.float64 for w in layer64.weights), \
        f"{type(layer).__name__}(dtype='float64') does not compute in float64"
    if reference is not None:
        expected = reference(feed([x.copy() for x in xs64]), *layer64.get_weights())
        assert_close(y64, expected, atol=1e-9, rtol=1e-7, name=f"{type(layer).__name__} vs NumPy reference")
    if grad:
        n = len(xs64)

        def run(*tensors):
            return call_with_weights(layer64, feed(tensors[:n]), tensors[n:], **call_kwargs)

        assert gradcheck(run, *xs64, *[w.data for w in layer64.trainable_weights], atol=atol, rtol=rtol)
    return layer


# ---------------------------------------------------------------- TensorBoard's event files (the monitor extra)
def without_tensorboard(monkeypatch):
    """As on a machine where the monitor extra is not installed."""
    for name in ["tensorboard"] + [n for n in sys.modules if n.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)


def read_events(logdir):
    """TensorBoard's own reader on the event files of ``logdir``."""
    EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


# ---------------------------------------------------------------- PyTorch as the oracle of convolutions and pooling
# channels-last shendu against channels-first torch, TensorFlow's padding rule spelled out


def per_axis(v, rank):
    """An int or a tuple of ``rank`` ints, as a tuple."""
    return (v,) * rank if isinstance(v, int) else tuple(v)


def tf_pads(size, k, s, d, padding):
    """(before, after) padding of one axis by TensorFlow's rule ('valid', 'same' or 'causal')."""
    k_eff = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return k_eff - 1, 0
    total = max((-(-size // s) - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2


def first(x):
    """A channels-last torch tensor, channels-first."""
    return x.movedim(-1, 1)


def last(y):
    """A channels-first torch tensor, channels-last."""
    return y.movedim(1, -1)


def tf_padded(x, kernel, strides, dilation, padding, value=0.0):
    """Channels-first torch x padded on its spatial axes as TensorFlow pads them."""
    import torch.nn.functional as F     # the oracle: imported by the tests that compare with PyTorch only
    pads = [tf_pads(n, k, s, d, padding) for n, k, s, d in zip(x.shape[2:], kernel, strides, dilation)]
    return F.pad(x, [p for pair in reversed(pads) for p in pair], value=value)


def check_against_torch(fn, ref, arrays, dtype, tol):
    """fn(shendu Tensors) and ref(torch tensors) agree on the output and every input gradient."""
    import torch                        # the oracle (see tf_padded)
    ts = [sd.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    tts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y, yt = fn(*ts), ref(*tts)
    assert y.dtype == dtype, f"{dtype.__name__} inputs gave a {y.dtype} output"
    assert_close(y, yt.detach().numpy(), atol=tol, rtol=tol, name="forward")
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    for i, (t, tt) in enumerate(zip(ts, tts)):
        assert t.grad.dtype == dtype, f"gradient of input {i} is {t.grad.dtype}"
        assert_close(t.grad, tt.grad.numpy(), atol=tol, rtol=tol, name=f"gradient of input {i}")
