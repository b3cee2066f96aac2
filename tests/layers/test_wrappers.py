"""shendu/layers/wrappers.py: Bidirectional (every merge mode, states, masks, copies of the wrapped
layer), TimeDistributed (one call on batch·time rows) and RepeatVector, each through the layer
contract against NumPy. The Keras 3 comparisons live in test_recurrent_oracles.py."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import call_with_weights, layer_contract
from test_recurrent import lstm_step, np_rnn

import shendu as sd
from shendu import layers, ops
from shendu.preprocessing.sequence import pad_sequences
from shendu.testing import assert_close, gradcheck

MERGES = {"concat": lambda a, b: np.concatenate([a, b], axis=-1), "sum": np.add, "mul": np.multiply,
          "ave": lambda a, b: (a + b) / 2}


def np_bidirectional_lstm(merge_mode, return_sequences=False, mask=None):
    def ref(x, *weights):
        zeros = [np.zeros((x.shape[0], weights[1].shape[0]))] * 2
        y = np_rnn(lstm_step(*weights[:3]), x, zeros, mask=mask, return_sequences=return_sequences,
                   zero_output_for_mask=return_sequences)[0]
        y_rev = np_rnn(lstm_step(*weights[3:]), x, zeros, mask=mask, go_backwards=True,
                       return_sequences=return_sequences, zero_output_for_mask=return_sequences)[0]
        if return_sequences:
            y_rev = y_rev[:, ::-1]
        return MERGES[merge_mode](y, y_rev)
    return ref


# ---------------------------------------------------------------- Bidirectional

@pytest.mark.parametrize("merge_mode", list(MERGES))
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
def test_bidirectional_contract(merge_mode, return_sequences):
    units, features = 3, 2
    out_units = 2 * units if merge_mode == "concat" else units
    shape = (2, 4, out_units) if return_sequences else (2, out_units)
    lstm_weights = [(features, 4 * units), (units, 4 * units), (4 * units,)]
    layer_contract(lambda dtype: layers.Bidirectional(
        layers.LSTM(units, return_sequences=return_sequences, bias_initializer="glorot_uniform", dtype=dtype),
        merge_mode=merge_mode, dtype=dtype), (2, 4, features), shape, lstm_weights * 2,
        reference=np_bidirectional_lstm(merge_mode, return_sequences))


def test_bidirectional_merge_none_returns_both_directions_in_time_order():
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    layer = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode=None)
    y, y_rev = layer(x)
    backward = layers.GRU(4, return_sequences=True)
    backward(x)
    backward.set_weights(layer.backward_layer.get_weights())
    assert_close(y_rev, backward(x[:, ::-1].copy()).numpy()[:, ::-1], atol=1e-6, rtol=1e-5)
    assert_close(y, layer.forward_layer(x), atol=0, rtol=0)


def test_bidirectional_return_state_and_initial_state():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    layer = layers.Bidirectional(layers.LSTM(4, return_state=True))
    out = layer(x)
    assert len(out) == 5 and out[0].shape == (2, 8) and all(s.shape == (2, 4) for s in out[1:])
    assert_close(out[0].numpy()[:, :4], out[1], atol=0, rtol=0)     # forward h
    assert_close(out[0].numpy()[:, 4:], out[3], atol=0, rtol=0)     # backward h
    states = [rng.normal(size=(2, 4)).astype(np.float32) for _ in range(4)]
    started = layer(x, initial_state=states)
    alone = layer.backward_layer(x, initial_state=states[2:])
    assert_close(started[0].numpy()[:, 4:], alone[0], atol=0, rtol=0)


def test_bidirectional_layers_are_fresh_copies_with_keras_names_and_paths():
    lstm = layers.LSTM(3, name="encoder")
    layer = layers.Bidirectional(lstm, name="bi")
    layer(np.zeros((1, 2, 4), np.float32))
    assert (layer.forward_layer.name, layer.backward_layer.name) == ("forward_encoder", "backward_encoder")
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    assert not lstm.built and layer.forward_layer is not lstm
    assert [w.path for w in layer.weights][:1] == ["bi/forward_encoder/lstm_cell/kernel"]
    assert [w.path for w in layer.weights][3:4] == ["bi/backward_encoder/lstm_cell/kernel"]
    assert layer.count_params() == 2 * 4 * (4 * 3 + 3 * 3 + 3)


def test_bidirectional_custom_backward_layer_and_errors():
    layer = layers.Bidirectional(layers.LSTM(2), backward_layer=layers.GRU(3, go_backwards=True))
    assert layer(np.zeros((1, 2, 4), np.float32)).shape == (1, 5)
    with pytest.raises(ValueError, match="opposite go_backwards"):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(2))
    with pytest.raises(ValueError, match="must agree on return_sequences"):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(2, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_bidirectional_padded_equals_unpadded(padding):
    rng = np.random.default_rng(2)
    sequences = [list(rng.integers(1, 20, size=n)) for n in (2, 6, 4)]
    ids = pad_sequences(sequences, maxlen=7, padding=padding)
    embed = layers.Embedding(20, 3, mask_zero=True)
    bi = layers.Bidirectional(layers.LSTM(4))
    batch = bi(embed(ids)).numpy()
    for row, seq in zip(batch, sequences):
        assert_close(row, bi(embed(np.array([seq]))).numpy()[0], atol=1e-6, rtol=1e-5, name=f"{padding}-padded")


def test_bidirectional_masked_sequences_gradcheck():
    mask = np.array([[False, True, True, True], [True, True, True, False]])
    rng = np.random.default_rng(3)
    layer = layers.Bidirectional(layers.GRU(2, return_sequences=True, dtype="float64"), merge_mode="mul",
                                 dtype="float64")
    x = rng.uniform(-2, 2, (2, 4, 3))
    layer(x)

    def run(x, *w):
        x = sd.Tensor(x) if not isinstance(x, sd.Tensor) else x
        x._keras_mask = mask
        return call_with_weights(layer, x, w)

    assert gradcheck(run, x, *[w.data for w in layer.trainable_weights])
    xt = sd.tensor(x)
    xt._keras_mask = mask
    out = layer(xt)
    assert np.all(out.numpy()[~mask] == 0)                       # Keras: zeros at masked steps of a sequence
    assert np.array_equal(out._keras_mask, mask)


def test_bidirectional_stateful_reset_and_config():
    layer = layers.Bidirectional(layers.SimpleRNN(2, stateful=True), merge_mode="sum")
    x = np.ones((3, 2, 2), np.float32)
    first = layer(x).numpy()
    assert not np.allclose(layer(x).numpy(), first)
    layer.reset_states()
    assert_close(layer(x), first, atol=0, rtol=0)
    config = layer.get_config()
    assert layers.Bidirectional.from_config(config).get_config() == config


# ---------------------------------------------------------------- TimeDistributed

def test_time_distributed_dense_contract():
    layer_contract(lambda dtype: layers.TimeDistributed(layers.Dense(3, bias_initializer="glorot_uniform",
                                                                     dtype=dtype), dtype=dtype),
                   (2, 4, 5), (2, 4, 3), [(5, 3), (3,)], reference=lambda x, W, b: x @ W + b)


def test_time_distributed_shares_weights_across_steps_and_keeps_the_mask():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    dense = layers.Dense(2)
    layer = layers.TimeDistributed(dense)
    y = layer(x)
    assert y.shape == (2, 3, 4, 2)
    for t in range(3):
        assert_close(y.numpy()[:, t], dense(x[:, t]), atol=1e-6, rtol=1e-6)
    xt = sd.tensor(x[:, :, 0])
    xt._keras_mask = np.array([[True, False, True], [True, True, False]])
    assert np.array_equal(layer(xt)._keras_mask, xt._keras_mask)
    assert layer.weights[0].path.startswith(layer.name + "/")
    with pytest.raises(ValueError, match="at least 3 axes"):
        layers.TimeDistributed(layers.Dense(2))(np.zeros((2, 3), np.float32))


def test_time_distributed_config_round_trip():
    layer = layers.TimeDistributed(layers.Dense(3, activation="relu"))
    layer(np.zeros((1, 2, 4), np.float32))
    config = layer.get_config()
    assert layers.TimeDistributed.from_config(config).get_config() == config


# ---------------------------------------------------------------- RepeatVector

def test_repeat_vector_contract():
    layer_contract(partial(layers.RepeatVector, 3), (2, 4), (2, 3, 4), [],
                   reference=lambda x: np.repeat(x[:, None, :], 3, axis=1))


def test_repeat_vector_errors_teach():
    with pytest.raises(ValueError, match="2-D input"):
        layers.RepeatVector(2)(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="positive integer"):
        layers.RepeatVector(0)


def test_encoder_repeat_decoder_time_distributed_trains():
    from shendu.optimizers import Adam
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 5, 3)).astype(np.float32)
    stack = [layers.LSTM(6), layers.RepeatVector(5), layers.LSTM(6, return_sequences=True),
             layers.TimeDistributed(layers.Dense(3))]

    def loss():
        y = x
        for layer in stack:
            y = layer(y)
        return ops.mean((y - sd.tensor(x)) ** 2)

    first = loss()
    weights = [w for layer in stack for w in layer.trainable_weights]
    optimizer = Adam(learning_rate=0.02)
    for _ in range(20):
        for w in weights:
            w.grad = None
        value = loss()
        value.backward()
        optimizer.apply_gradients([(w.grad, w) for w in weights])
    assert float(loss().numpy()) < 0.8 * float(first.numpy())
