"""SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed, RepeatVector, Embedding and Masking against
the oracles, in float32:

- PyTorch nn.RNN / nn.LSTM / nn.GRU, forward AND backward (outputs, final states, gradients of the
  input, every weight and the initial states) after mapping the weights: Keras's gate order i, f, c, o
  is PyTorch's i, f, g, o; Keras's GRU z, r, h is PyTorch's r, z, n reordered, and PyTorch's GRU is
  Keras's reset_after=True; PyTorch's two biases b_ih + b_hh are Keras's one (the LSTM's, SimpleRNN's)
  or its two rows (GRU). Masks against pack_padded_sequence;
- Keras 3 (same weights via set_weights): outputs, states, masks, go_backwards, input and weight
  gradients, parameter counts, constructor defaults (get_config), a .keras file read by each side.
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import shendu as sd  # noqa: E402
from shendu import layers  # noqa: E402
from shendu.testing import assert_close  # noqa: E402

if keras.backend.backend() != "torch":    # the gradient comparisons below use torch.autograd on Keras tensors
    pytest.skip("these oracles need Keras on its torch backend", allow_module_level=True)

F32 = dict(atol=1e-6, rtol=1e-5)
MASK = np.array([[False, False, True, True, True, True],   # pre-padded
                 [True, True, True, True, False, False],   # post-padded
                 [True, False, True, True, False, True]])  # holes


def _numpy(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# ---------------------------------------------------------------- PyTorch: weights mapped across

def _gru_order(a, u, axis=0):
    """PyTorch's GRU blocks r, z, n -> Keras's z, r, h along ``axis``."""
    r, z, n = np.split(a, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def _torch_module(kind, features, units):
    torch.manual_seed(0)
    module = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind](
        features, units, batch_first=True)
    with torch.no_grad():               # larger than the default init, so every gate saturates somewhere
        for p in module.parameters():
            p.mul_(2.0)
    return module


def _keras_weights_from_torch(kind, module, units):
    W_ih, W_hh = _numpy(module.weight_ih_l0), _numpy(module.weight_hh_l0)
    b_ih, b_hh = _numpy(module.bias_ih_l0), _numpy(module.bias_hh_l0)
    if kind == "GRU":
        return [_gru_order(W_ih, units).T, _gru_order(W_hh, units).T,
                np.stack([_gru_order(b_ih, units), _gru_order(b_hh, units)])]
    return [W_ih.T, W_hh.T, b_ih + b_hh]


def _torch_grads_as_keras(kind, module, units):
    g = {name: _numpy(p.grad) for name, p in module.named_parameters()}
    if kind == "GRU":
        return [_gru_order(g["weight_ih_l0"], units).T, _gru_order(g["weight_hh_l0"], units).T,
                np.stack([_gru_order(g["bias_ih_l0"], units), _gru_order(g["bias_hh_l0"], units)])]
    return [g["weight_ih_l0"].T, g["weight_hh_l0"].T, g["bias_ih_l0"]]      # d/db = d/db_ih = d/db_hh


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("shape,with_states", [((3, 7, 4, 5), True), ((1, 1, 2, 3), False), ((4, 12, 3, 6), False)],
                         ids=["states", "length1-batch1", "longer"])
def test_forward_and_backward_match_pytorch(kind, shape, with_states):
    batch, steps, features, units = shape
    rng = np.random.default_rng(0)
    module = _torch_module(kind, features, units)
    n_states = 2 if kind == "LSTM" else 1
    x = rng.normal(size=(batch, steps, features)).astype(np.float32)
    states = [rng.normal(size=(batch, units)).astype(np.float32) for _ in range(n_states)] if with_states else \
        [np.zeros((batch, units), np.float32)] * n_states
    v_out = rng.normal(size=(batch, steps, units)).astype(np.float32)
    v_states = [rng.normal(size=(batch, units)).astype(np.float32) for _ in range(n_states)]

    # PyTorch
    tx = torch.tensor(x, requires_grad=True)
    tstates = [torch.tensor(s[None], requires_grad=True) for s in states]
    out, final = module(tx, tuple(tstates) if kind == "LSTM" else tstates[0])
    final = list(final) if kind == "LSTM" else [final]
    loss = (out * torch.tensor(v_out)).sum() + sum((f[0] * torch.tensor(v)).sum() for f, v in zip(final, v_states))
    loss.backward()

    # shendu, with the same weights
    layer = getattr(layers, kind)(units, return_sequences=True, return_state=True)
    layer(x)
    layer.set_weights(_keras_weights_from_torch(kind, module, units))
    sx = sd.tensor(x, requires_grad=True)
    sstates = [sd.tensor(s, requires_grad=True) for s in states]
    got = layer(sx, initial_state=sstates)
    total = (got[0] * sd.tensor(v_out)).sum()
    for s, v in zip(got[1:], v_states):
        total = total + (s * sd.tensor(v)).sum()
    total.backward()

    assert_close(got[0], _numpy(out), name=f"{kind} outputs", **F32)
    for i, (s, f) in enumerate(zip(got[1:], final)):
        assert_close(s, _numpy(f[0]), name=f"{kind} final state {i}", **F32)
    assert_close(sx.grad, _numpy(tx.grad), name=f"{kind} dx", **F32)
    for w, g, name in zip(layer.weights, _torch_grads_as_keras(kind, module, units), ["kernel", "recurrent", "bias"]):
        assert_close(w.grad, g, name=f"{kind} d{name}", **F32)
    for i, (s, t) in enumerate(zip(sstates, tstates)):
        assert_close(s.grad, _numpy(t.grad[0]), name=f"{kind} d initial state {i}", **F32)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_post_padding_mask_matches_pytorch_packed_sequences(kind):
    """A post-padded batch with a mask ends each row at its own length, as pack_padded_sequence does."""
    rng = np.random.default_rng(1)
    lengths = [6, 3, 1, 4]
    x = rng.normal(size=(4, 6, 3)).astype(np.float32)
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    module = _torch_module(kind, 3, 5)
    tx = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=False)
    _, final = module(packed)
    h = final[0][0] if kind == "LSTM" else final[0]
    h.sum().backward()

    layer = getattr(layers, kind)(5)
    layer(x)
    layer.set_weights(_keras_weights_from_torch(kind, module, 5))
    sx = sd.tensor(x, requires_grad=True)
    sx._keras_mask = mask
    y = layer(sx)
    y.sum().backward()
    assert_close(y, _numpy(h), name=f"{kind} last output", **F32)
    assert_close(sx.grad, _numpy(tx.grad), name=f"{kind} dx with padding", **F32)
    assert np.all(sx.grad.numpy()[~mask] == 0)


def test_go_backwards_matches_pytorch_on_the_flipped_sequence():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    module = _torch_module("LSTM", 3, 4)
    out, _ = module(torch.tensor(x[:, ::-1].copy()))
    layer = layers.LSTM(4, return_sequences=True, go_backwards=True)
    layer(x)
    layer.set_weights(_keras_weights_from_torch("LSTM", module, 4))
    assert_close(layer(x), _numpy(out), **F32)


# ---------------------------------------------------------------- Keras 3

def _pair(kind, units, **options):
    if kind == "GRU_reset_before":
        return keras.layers.GRU(units, reset_after=False, **options), layers.GRU(units, reset_after=False, **options)
    return getattr(keras.layers, kind)(units, **options), getattr(layers, kind)(units, **options)


def _same_weights(keras_layer, shendu_layer, x, rng):
    """Build both, perturb Keras's initial weights (so biases are not 0 or 1) and copy them across."""
    keras_layer(torch.tensor(x))
    shendu_layer(x)
    weights = [w + rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in keras_layer.get_weights()]
    keras_layer.set_weights(weights)
    shendu_layer.set_weights(weights)


KINDS = ["SimpleRNN", "LSTM", "GRU", "GRU_reset_before"]
OPTIONS = [dict(), dict(return_sequences=True), dict(go_backwards=True), dict(return_sequences=True, go_backwards=True)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", OPTIONS, ids=["last", "sequences", "backwards", "sequences-backwards"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_outputs_and_states_match_keras(kind, options, masked):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    k, s = _pair(kind, 5, return_state=True, **options)
    _same_weights(k, s, x, rng)
    mask = MASK if masked else None
    expected = k(torch.tensor(x), mask=None if mask is None else torch.tensor(mask))
    sx = sd.tensor(x)
    if masked:
        sx._keras_mask = MASK
    got = s(sx)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert_close(a, _numpy(b), name=f"{kind} output {i}", **F32)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "GRU_reset_before", "SimpleRNN"])
def test_masked_gradients_match_keras(kind):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    k, s = _pair(kind, 3, return_sequences=True, go_backwards=True)
    _same_weights(k, s, x, rng)
    v = rng.normal(size=(3, 6, 3)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    (k(tx, mask=torch.tensor(MASK)) * torch.tensor(v)).sum().backward()
    sx = sd.tensor(x, requires_grad=True)
    sx._keras_mask = MASK
    (s(sx) * sd.tensor(v)).sum().backward()
    assert_close(sx.grad, _numpy(tx.grad), name=f"{kind} dx", **F32)
    for kw, sw in zip(k.trainable_weights, s.trainable_weights):
        assert_close(sw.grad, _numpy(kw.value.grad), name=f"{kind} d{sw.name}", **F32)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("inner", ["LSTM", "GRU"])
def test_bidirectional_matches_keras(merge_mode, inner):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    k = keras.layers.Bidirectional(getattr(keras.layers, inner)(3, return_sequences=True, return_state=True),
                                   merge_mode=merge_mode)
    s = layers.Bidirectional(getattr(layers, inner)(3, return_sequences=True, return_state=True),
                             merge_mode=merge_mode)
    _same_weights(k, s, x, rng)
    assert s.count_params() == k.count_params()
    for mask in (None, MASK):
        expected = k(torch.tensor(x), mask=None if mask is None else torch.tensor(mask))
        sx = sd.tensor(x)
        if mask is not None:
            sx._keras_mask = mask
        got = s(sx)
        assert len(got) == len(expected)
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_close(a, _numpy(b), name=f"Bidirectional({inner}, {merge_mode}) output {i}", **F32)


def test_bidirectional_last_output_matches_keras():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    k, s = keras.layers.Bidirectional(keras.layers.SimpleRNN(3)), layers.Bidirectional(layers.SimpleRNN(3))
    _same_weights(k, s, x, rng)
    xt = sd.tensor(x)
    xt._keras_mask = MASK
    assert_close(s(xt), _numpy(k(torch.tensor(x), mask=torch.tensor(MASK))), **F32)


def test_embedding_mask_zero_into_lstm_matches_keras():
    rng = np.random.default_rng(7)
    ids = np.array([[0, 0, 4, 9, 2], [3, 1, 0, 0, 0], [5, 0, 7, 0, 8]])
    ke, se = keras.layers.Embedding(10, 4, mask_zero=True), layers.Embedding(10, 4, mask_zero=True)
    kl, sl = keras.layers.LSTM(3, return_sequences=True), layers.LSTM(3, return_sequences=True)
    ke(torch.tensor(ids))
    se(ids)
    se.set_weights(ke.get_weights())
    embedded = se(ids)
    _same_weights(kl, sl, embedded.numpy(), rng)
    k_embedded = ke(torch.tensor(ids))
    assert_close(embedded, _numpy(k_embedded), atol=0, rtol=0)
    assert np.array_equal(embedded._keras_mask, _numpy(k_embedded._keras_mask))
    expected = kl(k_embedded)
    got = sl(embedded)
    assert_close(got, _numpy(expected), **F32)
    assert np.array_equal(got._keras_mask, _numpy(expected._keras_mask))


def test_masking_matches_keras():
    x = np.random.default_rng(8).normal(size=(2, 4, 3)).astype(np.float32)
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    expected = keras.layers.Masking()(torch.tensor(x))
    got = layers.Masking()(x)
    assert_close(got, _numpy(expected), atol=0, rtol=0)
    assert np.array_equal(got._keras_mask, _numpy(expected._keras_mask))


def test_time_distributed_and_repeat_vector_match_keras():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    k, s = keras.layers.TimeDistributed(keras.layers.Dense(3)), layers.TimeDistributed(layers.Dense(3))
    _same_weights(k, s, x, rng)
    assert_close(s(x), _numpy(k(torch.tensor(x))), **F32)
    v = x[:, 0]
    assert_close(layers.RepeatVector(3)(v), _numpy(keras.layers.RepeatVector(3)(torch.tensor(v))), atol=0, rtol=0)


def _uncounted(path):
    return re.sub(r"_\d+(?=/|$)", "", path)


@pytest.mark.parametrize("make", [
    lambda L: L.SimpleRNN(7), lambda L: L.LSTM(7), lambda L: L.GRU(7), lambda L: L.GRU(7, reset_after=False),
    lambda L: L.LSTM(7, use_bias=False), lambda L: L.Bidirectional(L.LSTM(7)), lambda L: L.Embedding(30, 7),
    lambda L: L.TimeDistributed(L.Dense(7)),
], ids=["simple", "lstm", "gru", "gru-reset-before", "lstm-nobias", "bidirectional", "embedding", "time-distributed"])
def test_parameter_counts_and_weight_shapes_match_keras(make):
    k, s = make(keras.layers), make(layers)
    ids = isinstance(s, layers.Embedding)
    x = np.random.default_rng(10).integers(0, 30, (2, 4)) if ids else np.zeros((2, 4, 5), np.float32)
    k(torch.tensor(x))
    s(x)
    assert s.count_params() == k.count_params()
    assert [tuple(w.shape) for w in s.weights] == [tuple(w.shape) for w in k.weights]
    # weight paths, with the counters of default names ("lstm_3") dropped: they differ between the two
    assert [_uncounted(w.path) for w in s.weights] == [_uncounted(w.path) for w in k.weights]
    assert all(w.path.startswith(s.name + "/") for w in s.weights)


def _plain(config):
    """A config without layer names (they depend on how many layers each side has made) and without
    Keras 3's quantization_config (shendu does not quantize)."""
    if isinstance(config, dict):
        return {key: _plain(value) for key, value in config.items() if key not in ("name", "quantization_config")}
    return config


@pytest.mark.parametrize("name,args", [
    ("SimpleRNN", (4,)), ("LSTM", (4,)), ("GRU", (4,)), ("LSTMCell", (4,)), ("GRUCell", (4,)),
    ("SimpleRNNCell", (4,)), ("Embedding", (10, 3)), ("Masking", ()), ("RepeatVector", (3,)),
])
def test_constructor_defaults_match_keras(name, args):
    expected, got = _plain(getattr(keras.layers, name)(*args).get_config()), _plain(getattr(layers, name)(*args)
                                                                                    .get_config())
    assert not set(expected) - set(got), f"{name}: keys only Keras has: {set(expected) - set(got)}"
    # Keras 3's SimpleRNN.get_config leaves out the `seed` it takes; shendu keeps it so a copy drops the same masks
    assert set(got) - set(expected) <= {"seed"}, f"{name}: keys only shendu has: {set(got) - set(expected)}"
    for key in expected:
        assert got[key] == expected[key], f"{name}.{key}: shendu {got[key]!r}, Keras {expected[key]!r}"


def test_wrapper_configs_match_keras():
    for wrap in (lambda L: L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="ave"),
                 lambda L: L.TimeDistributed(L.Dense(2))):
        expected, got = _plain(wrap(keras.layers).get_config()), _plain(wrap(layers).get_config())
        assert got == expected


def test_keras_file_round_trip_both_ways(tmp_path):
    from shendu.models import Sequential, load_model
    ids = np.array([[0, 0, 3, 9, 4, 1], [5, 2, 8, 0, 0, 0]])

    def stack(L):
        return [L.Input(shape=(6,)), L.Embedding(10, 4, mask_zero=True),
                L.Bidirectional(L.GRU(3, return_sequences=True)), L.TimeDistributed(L.Dense(3)), L.LSTM(2)]

    ours = Sequential(stack(layers))
    ours.save(str(tmp_path / "ours.keras"))
    assert_close(keras.saving.load_model(str(tmp_path / "ours.keras"))(torch.tensor(ids)).detach().numpy(),
                 ours(ids), **F32)
    theirs = keras.Sequential(stack(keras.layers))
    theirs.save(str(tmp_path / "theirs.keras"))
    assert_close(load_model(str(tmp_path / "theirs.keras"))(ids), _numpy(theirs(torch.tensor(ids))), **F32)
