"""shendu/layers/recurrent.py and rnn_cells.py, with the fused ops of shendu/ops/recurrent.py they run:
SimpleRNN, LSTM, GRU and RNN(cell) through the layer contract against plain NumPy loops; gradchecks
over shapes, return modes, masks, go_backwards and initial states; the fused op against the
step-by-step cell (the composed oracle); masking, stateful layers, dropout and a 1,000-step sequence.
The PyTorch and Keras 3 comparisons live in test_recurrent_oracles.py."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import call_with_weights, layer_contract

import shendu as sd
from shendu import layers, ops
from shendu.preprocessing.sequence import pad_sequences
from shendu.testing import assert_close, gradcheck


# ---------------------------------------------------------------- NumPy references (Keras's conventions)

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_rnn(step, x, states, mask=None, go_backwards=False, return_sequences=False, zero_output_for_mask=False):
    """Keras's recurrence in plain NumPy: a masked step keeps the states and repeats the previous output."""
    outputs, previous = [], None
    for t in (range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])):
        out, new = step(x[:, t], states)
        if mask is not None:
            m = mask[:, t][:, None]
            out = np.where(m, out, 0.0 if zero_output_for_mask or previous is None else previous)
            new = [np.where(m, n, s) for n, s in zip(new, states)]
        previous, states = out, new
        outputs.append(out)
    return [np.stack(outputs, axis=1) if return_sequences else outputs[-1]] + list(states)


def simple_step(W, U, b, act=np.tanh):
    def step(x, states):
        h = act(x @ W + states[0] @ U + b)
        return h, [h]
    return step


def lstm_step(W, U, b):
    def step(x, states):
        h, c = states
        i, f, c_bar, o = np.split(x @ W + h @ U + b, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(c_bar)
        h = _sigmoid(o) * np.tanh(c)
        return h, [h, c]
    return step


def gru_step(W, U, b, reset_after=True):
    def step(x, states):
        h = states[0]
        u = h.shape[1]
        if reset_after:
            x_z, x_r, x_h = np.split(x @ W + b[0], 3, axis=1)
            h_z, h_r, h_h = np.split(h @ U + b[1], 3, axis=1)
            z, r = _sigmoid(x_z + h_z), _sigmoid(x_r + h_r)
            candidate = np.tanh(x_h + r * h_h)
        else:
            x_z, x_r, x_h = np.split(x @ W + b, 3, axis=1)
            z, r = _sigmoid(x_z + h @ U[:, :u]), _sigmoid(x_r + h @ U[:, u:2 * u])
            candidate = np.tanh(x_h + (r * h) @ U[:, 2 * u:])
        h = z * h + (1 - z) * candidate
        return h, [h]
    return step


STEPS = {"SimpleRNN": simple_step, "LSTM": lstm_step, "GRU": gru_step,
         "GRU_reset_before": partial(gru_step, reset_after=False)}
N_STATES = {"SimpleRNN": 1, "LSTM": 2, "GRU": 1, "GRU_reset_before": 1}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3, "GRU_reset_before": 3}


def make(kind, units, **kwargs):
    """The layer for a row name: GRU_reset_before is GRU(reset_after=False)."""
    if kind == "GRU_reset_before":
        return layers.GRU(units, reset_after=False, **kwargs)
    return getattr(layers, kind)(units, **kwargs)


def reference(kind, **options):
    def ref(x, W, U, b):
        states = [np.zeros((x.shape[0], U.shape[0])) for _ in range(N_STATES[kind])]
        return np_rnn(STEPS[kind](W, U, b), x, states, **options)[0]
    return ref


def weight_shapes(kind, features, units):
    k = GATES[kind]
    bias = (2, 3 * units) if kind == "GRU" else (k * units,)
    return [(features, k * units), (units, k * units), bias]


def joined(out):
    """One tensor from a layer's output(s), so one gradcheck covers every output."""
    outs = out if isinstance(out, list) else [out]
    return ops.concatenate([ops.reshape(o, (-1,)) for o in outs], axis=0)


KINDS = list(STEPS)
MASK = np.array([[False, False, True, True, True],     # pre-padded (pad_sequences' default)
                 [True, True, True, False, False],     # post-padded
                 [True, False, True, False, True]])    # holes


# ---------------------------------------------------------------- the contract

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("input_shape,options", [((2, 5, 3), {}), ((1, 2, 2), {}),
                                                 ((3, 4, 2), dict(return_sequences=True, go_backwards=True))],
                         ids=["last", "batch1", "sequences-backwards"])
def test_recurrent_contract(kind, input_shape, options):
    # (length 1 from a zero state gives U no gradient, so the contract's "SGD changes every weight"
    # needs two steps; length 1 is in the gradchecks below)
    units = 3
    out_shape = (input_shape[0], input_shape[1], units) if options.get("return_sequences") else (input_shape[0], units)
    # non-zero biases so the NumPy reference checks the bias layouts too
    layer_contract(partial(make, kind, units, bias_initializer="glorot_uniform", **options), input_shape, out_shape,
                   weight_shapes(kind, input_shape[-1], units), reference=reference(kind, **options))


# ---------------------------------------------------------------- gradients over the modes

GRAD_CASES = [
    # (input shape, layer options, mask, pass initial states)
    ((1, 1, 2), dict(), None, False),
    ((2, 4, 3), dict(return_sequences=True, return_state=True, go_backwards=True), None, False),
    ((3, 5, 2), dict(return_state=True), MASK, False),
    ((3, 5, 2), dict(return_sequences=True, go_backwards=True), MASK, True),
    ((3, 5, 2), dict(return_sequences=True, zero_output_for_mask=True), MASK, False),
    ((1, 3, 2), dict(return_sequences=True, return_state=True), np.array([[False, True, False]]), True),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", range(len(GRAD_CASES)))
def test_recurrent_gradcheck(kind, case):
    shape, options, mask, with_states = GRAD_CASES[case]
    rng = np.random.default_rng(case)
    layer = make(kind, 3, dtype="float64", bias_initializer="glorot_uniform", **options)
    x = rng.uniform(-2, 2, shape)
    layer(x)
    states = [rng.uniform(-1, 1, (shape[0], 3)) for _ in range(N_STATES[kind])] if with_states else []
    n = len(states)

    def run(x, *rest):
        x = sd.Tensor(x) if not isinstance(x, sd.Tensor) else x
        if mask is not None:
            x._keras_mask = mask
        kwargs = dict(initial_state=list(rest[:n])) if n else {}
        return joined(call_with_weights(layer, x, rest[n:], **kwargs))

    assert gradcheck(run, x, *states, *[w.data for w in layer.trainable_weights])


@pytest.mark.parametrize("kind,options", [
    ("SimpleRNN", dict(activation="relu")),
    ("LSTM", dict(activation="relu", recurrent_activation="hard_sigmoid")),
    ("GRU", dict(activation="linear", recurrent_activation="tanh")),
    ("GRU_reset_before", dict(activation="sigmoid", use_bias=False)),
    ("LSTM", dict(activation="softsign")),                 # no fused form: runs step by step through the cell
], ids=["simple-relu", "lstm-relu-hard-sigmoid", "gru-linear-tanh", "gru-before-sigmoid-nobias", "lstm-softsign"])
def test_recurrent_activations_gradcheck(kind, options):
    rng = np.random.default_rng(1)
    layer = make(kind, 3, dtype="float64", return_sequences=True, **options)
    x = rng.uniform(-2, 2, (2, 4, 3))
    layer(x)
    assert gradcheck(lambda x, *w: call_with_weights(layer, x, w), x, *[w.data for w in layer.trainable_weights])


# ---------------------------------------------------------------- fused op vs the step-by-step cell

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("options", [dict(), dict(return_sequences=True, go_backwards=True),
                                     dict(return_sequences=True, zero_output_for_mask=True)],
                         ids=["last", "sequences-backwards", "zero-output"])
def test_fused_matches_cell_loop(kind, options):
    """The one-op sequence and the per-step cell graph (primitive ops) agree, values and gradients."""
    rng = np.random.default_rng(2)
    layer = make(kind, 4, dtype="float64", bias_initializer="glorot_uniform", **options)
    x = rng.uniform(-2, 2, (3, 5, 2))
    layer(x)

    def grads(run):
        xt = sd.tensor(x, requires_grad=True)
        for w in layer.weights:
            w.grad = None
        y = run(xt)
        (y * sd.tensor(np.linspace(-1, 1, y.size).reshape(y.shape))).sum().backward()
        return [y.numpy(), xt.grad.numpy()] + [w.grad.numpy() for w in layer.weights]

    fused = grads(lambda xt: layer.cell.run_sequence(xt, layer.get_initial_state(3), mask=MASK, **options)[0])
    looped = grads(lambda xt: layer._loop(xt, layer.get_initial_state(3), MASK, False)[0])
    for name, a, b in zip(["output", "dx", "dkernel", "drecurrent_kernel", "dbias"], fused, looped):
        assert_close(a, b, atol=1e-10, rtol=1e-8, name=f"{kind} {name}")


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_fused_matches_cell_loop_with_the_same_masks(kind):
    """Training with dropout: both paths draw the input mask then the recurrent one from the same seed,
    and both hold them fixed over time, so they agree exactly."""
    x = np.random.default_rng(3).uniform(-1, 1, (4, 6, 3))
    fused = make(kind, 5, dtype="float64", dropout=0.3, recurrent_dropout=0.4, seed=7, return_sequences=True)
    looped = make(kind, 5, dtype="float64", dropout=0.3, recurrent_dropout=0.4, seed=7, return_sequences=True)
    y = fused(x, training=True)
    looped(x)
    looped.set_weights(fused.get_weights())
    y_loop = looped._loop(sd.tensor(x), looped.get_initial_state(4), None, True)[0]
    assert_close(y, y_loop, atol=1e-12, rtol=1e-10, name=f"{kind} with dropout")
    assert not np.allclose(y.numpy(), fused(x).numpy())           # training differs from inference
    assert_close(fused(x), fused(x, training=False), atol=0, rtol=0)   # inference is deterministic


def test_dropout_mask_is_fixed_across_time():
    # h_t = (x_t ⊙ m) W with U = 0: a constant input gives the same output at every step iff m is fixed
    layer = layers.SimpleRNN(6, activation="linear", use_bias=False, recurrent_initializer="zeros", dropout=0.5,
                             return_sequences=True)
    y = layer(np.ones((8, 5, 4), np.float32), training=True).numpy()
    assert np.allclose(y, y[:, :1]), "the dropout mask changed between time steps"
    y2 = layer(np.ones((8, 5, 4), np.float32), training=True).numpy()
    assert not np.allclose(y, y2), "a new batch should draw a new mask"


# ---------------------------------------------------------------- masking end to end

@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_padded_sequences_equal_unpadded(kind, padding):
    """Embedding(mask_zero=True) marks the padding; the RNN skips it, so each padded row gives
    exactly what its unpadded sequence gives alone."""
    rng = np.random.default_rng(4)
    sequences = [list(rng.integers(1, 20, size=n)) for n in (3, 7, 1, 5)]
    ids = pad_sequences(sequences, maxlen=8, padding=padding)
    embed = layers.Embedding(20, 4, mask_zero=True)
    rnn = getattr(layers, kind)(5)
    batch = rnn(embed(ids)).numpy()
    for row, seq in zip(batch, sequences):
        alone = rnn(embed(np.array([seq]))).numpy()[0]
        assert_close(row, alone, atol=1e-6, rtol=1e-5, name=f"{kind} {padding}-padded vs unpadded")


def test_masked_output_sequence_repeats_previous_output_and_mask_propagates():
    ids = np.array([[0, 0, 3, 4, 0]])
    embed = layers.Embedding(10, 3, mask_zero=True)
    y = layers.LSTM(2, return_sequences=True)(embed(ids))
    out = y.numpy()[0]
    assert np.all(out[:2] == 0)                      # before the first valid step: zeros
    assert np.array_equal(out[4], out[3])            # a masked step repeats the previous output
    assert np.array_equal(y._keras_mask, ids != 0)   # the mask travels on with return_sequences
    assert getattr(layers.LSTM(2)(embed(ids)), "_keras_mask", None) is None


def test_masking_layer_matches_embedding_mask():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    x[0, :2] = 0.0
    x[1, 4:] = 0.0
    lstm = layers.LSTM(4)
    masked = lstm(layers.Masking()(x)).numpy()
    assert_close(masked[0], lstm(x[:1, 2:]).numpy()[0], atol=1e-6, rtol=1e-5, name="pre-padded row")
    assert_close(masked[1], lstm(x[1:, :4]).numpy()[0], atol=1e-6, rtol=1e-5, name="post-padded row")


# ---------------------------------------------------------------- states, directions, options

def test_go_backwards_reads_the_reversed_sequence():
    x = np.random.default_rng(6).normal(size=(2, 5, 3)).astype(np.float32)
    forward = layers.GRU(4, return_sequences=True)
    backward = layers.GRU(4, return_sequences=True, go_backwards=True)
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    assert_close(backward(x), forward(x[:, ::-1].copy()), atol=1e-6, rtol=1e-5)


def test_return_state_lists_output_then_states():
    x = np.random.default_rng(7).normal(size=(2, 5, 3)).astype(np.float32)
    out, h, c = layers.LSTM(4, return_state=True)(x)
    assert out.shape == h.shape == c.shape == (2, 4)
    assert_close(out, h, atol=0, rtol=0)
    seq, h = layers.GRU(4, return_sequences=True, return_state=True)(x)
    assert seq.shape == (2, 5, 4)
    assert_close(seq.numpy()[:, -1], h, atol=0, rtol=0)
    assert len(layers.SimpleRNN(4, return_state=True)(x)) == 2


def test_initial_state_starts_the_recurrence_and_receives_gradient():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 4, 3))
    layer = layers.LSTM(3, dtype="float64")
    h0 = sd.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    c0 = sd.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    y = layer(x, initial_state=[h0, c0])
    W, U, b = layer.get_weights()
    expected = np_rnn(lstm_step(W, U, b), x, [h0.numpy(), c0.numpy()])[0]
    assert_close(y, expected, atol=1e-12, rtol=1e-10)
    y.sum().backward()
    assert h0.grad is not None and c0.grad is not None and np.abs(c0.grad.numpy()).sum() > 0


def test_initial_state_errors_teach():
    layer = layers.LSTM(3)
    x = np.zeros((2, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"2 state\(s\) but initial_state has 1.*\[h, c\]"):
        layer(x, initial_state=[np.zeros((2, 3), np.float32)])
    with pytest.raises(ValueError, match=r"\(batch, units\) = \(2, 3\)"):
        layer(x, initial_state=[np.zeros((2, 4), np.float32)] * 2)


def test_two_dimensional_input_error_teaches():
    with pytest.raises(ValueError, match=r"3-D input \(batch, time, features\).*Embedding"):
        layers.LSTM(3)(np.zeros((2, 5), np.float32))


def test_units_must_be_positive():
    with pytest.raises(ValueError, match="positive integer"):
        layers.GRU(0)


def test_stateful_carries_states_between_batches_until_reset():
    x = np.random.default_rng(9).normal(size=(2, 6, 3)).astype(np.float32)
    whole = layers.LSTM(4, return_sequences=True)
    stateful = layers.LSTM(4, return_sequences=True, stateful=True)
    whole(x)
    stateful(x[:, :1])
    stateful.set_weights(whole.get_weights())
    stateful.reset_states()
    first, second = stateful(x[:, :3]), stateful(x[:, 3:])
    assert_close(np.concatenate([first.numpy(), second.numpy()], axis=1), whole(x), atol=1e-6, rtol=1e-5)
    stateful.reset_states()
    assert_close(stateful(x[:, :3]), first, atol=0, rtol=0)
    stateful.reset_states([np.ones((2, 4)), np.zeros((2, 4))])
    assert not np.allclose(stateful(x[:, :3]).numpy(), first.numpy())
    with pytest.raises(AttributeError, match="not stateful"):
        whole.reset_states()


def test_stateful_with_declared_batch_rejects_another_batch_size():
    layer = layers.GRU(2, stateful=True, batch_input_shape=(4, 3, 2))
    layer(np.zeros((4, 3, 2), np.float32))
    with pytest.raises(ValueError, match="batches of 4 but got a batch of 3"):
        layer(np.zeros((3, 3, 2), np.float32))


def test_long_sequence_forward_and_backward():
    """1,000 steps: BPTT is a loop over arrays, so no recursion limit and no per-step graph."""
    x = sd.tensor(np.random.default_rng(10).normal(size=(2, 1000, 3)).astype(np.float32), requires_grad=True)
    layer = layers.LSTM(8, return_sequences=True)
    y = layer(x)
    y.sum().backward()
    assert x.grad.shape == x.shape and np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(w.grad.numpy()).all() for w in layer.weights)


# ---------------------------------------------------------------- weights, defaults, config, cells

def test_weights_live_in_the_cell_with_keras_paths_and_defaults():
    layer = layers.LSTM(3)
    layer(np.zeros((1, 2, 5), np.float32))
    assert layer.cell.name == "lstm_cell" and isinstance(layer.cell, layers.LSTMCell)
    assert [w.path for w in layer.weights] == [f"{layer.name}/lstm_cell/{name}"
                                               for name in ("kernel", "recurrent_kernel", "bias")]
    kernel, recurrent, bias = layer.get_weights()
    assert np.array_equal(bias, np.r_[np.zeros(3), np.ones(3), np.zeros(6)])     # unit_forget_bias
    assert_close(recurrent @ recurrent.T, np.eye(3), atol=1e-5, rtol=0)           # orthogonal rows
    assert layers.LSTM(3, unit_forget_bias=False).cell._bias_init() is not None
    assert layer.units == 3 and layer.recurrent_activation.__name__ == "sigmoid" and layer.dropout == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_keeps_options(kind):
    layer = make(kind, 5, return_sequences=True, go_backwards=True, dropout=0.25, kernel_regularizer="l2")
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert "cell" not in config and config["units"] == 5 and config["go_backwards"] is True


def test_regularizers_add_losses():
    layer = layers.GRU(2, kernel_regularizer="l2", recurrent_regularizer="l1", bias_regularizer="l2")
    layer(np.ones((1, 2, 3), np.float32))
    assert len(layer.losses) == 3


def test_cells_step_by_step():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3))
    for cell, step, n in [(layers.SimpleRNNCell(4, dtype="float64"), simple_step, 1),
                          (layers.LSTMCell(4, dtype="float64"), lstm_step, 2),
                          (layers.GRUCell(4, dtype="float64"), gru_step, 1)]:
        states = [rng.normal(size=(2, 4)) for _ in range(n)]
        h, new = cell(x, [sd.tensor(s) for s in states])
        expected_h, expected_states = step(*cell.get_weights())(x, states)
        assert_close(h, expected_h, atol=1e-12, rtol=1e-10, name=type(cell).__name__)
        for got, want in zip(new, expected_states):
            assert_close(got, want, atol=1e-12, rtol=1e-10)


def test_rnn_wraps_a_builtin_cell_with_the_fused_op():
    x = np.random.default_rng(12).normal(size=(2, 5, 3)).astype(np.float32)
    wrapped = layers.RNN(layers.LSTMCell(4), return_sequences=True)
    lstm = layers.LSTM(4, return_sequences=True)
    wrapped(x)
    lstm(x)
    lstm.set_weights(wrapped.get_weights())
    assert_close(wrapped(x), lstm(x), atol=1e-6, rtol=1e-5)
    clone = layers.RNN.from_config(wrapped.get_config())
    assert isinstance(clone.cell, layers.LSTMCell) and clone.return_sequences


class MinimalRNNCell(layers.Layer):
    """The custom cell from Keras's RNN documentation: output_t = x_t W + h_{t-1} U."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units), "glorot_uniform")
        self.built = True

    def call(self, inputs, states):
        output = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
        return output, [output]


def test_rnn_loops_a_custom_cell_with_masks():
    rng = np.random.default_rng(13)
    layer = layers.RNN(MinimalRNNCell(3, dtype="float64"), return_sequences=True, go_backwards=True, dtype="float64")
    x = rng.uniform(-1, 1, (3, 5, 2))
    layer(x)
    W, U = layer.get_weights()
    step = simple_step(W, U, 0.0, act=lambda z: z)
    xt = sd.tensor(x)
    xt._keras_mask = MASK
    expected = np_rnn(step, x, [np.zeros((3, 3))], mask=MASK, go_backwards=True, return_sequences=True)[0]
    assert_close(layer(xt), expected, atol=1e-12, rtol=1e-10)

    def run(x, *w):
        x = sd.Tensor(x) if not isinstance(x, sd.Tensor) else x
        x._keras_mask = MASK
        return call_with_weights(layer, x, w)

    assert gradcheck(run, x, *[w.data for w in layer.trainable_weights])


def test_rnn_rejects_a_cell_without_state_size():
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(3))


def test_sequence_model_trains_and_runs_functional_encoder_decoder():
    from shendu.models import Model, Sequential
    rng = np.random.default_rng(14)
    ids = pad_sequences([list(rng.integers(1, 30, size=rng.integers(2, 9))) for _ in range(32)], maxlen=8)
    y = (ids[:, -1] % 2).astype(np.int64)
    model = Sequential([layers.Embedding(30, 8, mask_zero=True), layers.LSTM(8), layers.Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(ids, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    encoder_in, decoder_in = layers.Input(shape=(None, 5)), layers.Input(shape=(None, 4))
    _, h, c = layers.LSTM(6, return_state=True)(encoder_in)
    decoded = layers.LSTM(6, return_sequences=True)(decoder_in, initial_state=[h, c])
    seq2seq = Model([encoder_in, decoder_in], layers.TimeDistributed(layers.Dense(3))(decoded))
    out = seq2seq([rng.normal(size=(2, 7, 5)).astype(np.float32), rng.normal(size=(2, 3, 4)).astype(np.float32)])
    assert out.shape == (2, 3, 3)
