"""Sequence models end to end: a sentiment classifier on real review sentences, a Seq2Seq
encoder-decoder with teacher forcing and greedy decoding, and a 1,000-step LSTM."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import shendu.keras as keras
from shendu.data.datasets import load_sentiment
from shendu.keras.preprocessing.sequence import pad_sequences
from shendu.keras.preprocessing.text import Tokenizer


@pytest.mark.slow
def test_lstm_sentiment_classifier_scores_75_percent():
    texts, labels = load_sentiment()
    order = np.random.default_rng(42).permutation(len(texts))
    texts, labels = [texts[i] for i in order], labels[order]
    cut = int(0.8 * len(texts))
    tokenizer = Tokenizer(num_words=10000)
    tokenizer.fit_on_texts(texts[:cut])
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=40)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Embedding(10000, 64, mask_zero=True),
        keras.layers.LSTM(64),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:cut], labels[:cut], epochs=6, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[cut:], labels[cut:], verbose=0)
    assert accuracy >= 0.75, f"test accuracy {accuracy:.4f}"


PAD, START, END = 0, 1, 2          # digit d is token d + 3
VOCAB = 13


def _reversal_data(n, length, rng):
    digits = rng.integers(0, 10, (n, length))
    source = digits + 3
    target = digits[:, ::-1] + 3
    decoder_in = np.concatenate([np.full((n, 1), START), target], axis=1)     # teacher forcing: shifted right
    decoder_out = np.concatenate([target, np.full((n, 1), END)], axis=1)
    return source, decoder_in, decoder_out


def _seq2seq(units=64):
    from shendu.keras import Input, Model, layers
    encoder_in = Input(shape=(None,), dtype="int32")
    enc = layers.Embedding(VOCAB, 32)(encoder_in)
    _, h, c = layers.LSTM(units, return_state=True)(enc)
    decoder_in = Input(shape=(None,), dtype="int32")
    dec_embedding = layers.Embedding(VOCAB, 32)
    dec_lstm = layers.LSTM(units, return_sequences=True, return_state=True)
    dec_dense = layers.Dense(VOCAB, activation="softmax")
    dec, _, _ = dec_lstm(dec_embedding(decoder_in), initial_state=[h, c])
    training_model = Model([encoder_in, decoder_in], dec_dense(dec))
    # inference: the encoder gives the states, the decoder runs one step at a time from them
    encoder_model = Model(encoder_in, [h, c])
    state_h, state_c = Input(shape=(units,)), Input(shape=(units,))
    step, h2, c2 = dec_lstm(dec_embedding(decoder_in), initial_state=[state_h, state_c])
    decoder_model = Model([decoder_in, state_h, state_c], [dec_dense(step), h2, c2])
    return training_model, encoder_model, decoder_model


def _greedy_decode(encoder_model, decoder_model, source, length):
    h, c = encoder_model.predict(source, verbose=0)
    token = np.full((len(source), 1), START)
    out = []
    for _ in range(length + 1):
        probs, h, c = decoder_model.predict([token, h, c], verbose=0)
        token = probs[:, -1].argmax(-1)[:, None]
        out.append(token[:, 0])
    return np.stack(out, axis=1)


@pytest.mark.slow
def test_seq2seq_learns_to_reverse_digit_strings():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    length = 5
    src, dec_in, dec_out = _reversal_data(6000, length, rng)
    test_src, _, test_out = _reversal_data(500, length, np.random.default_rng(1))
    train_model, encoder_model, decoder_model = _seq2seq()
    train_model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
    train_model.fit([src, dec_in], dec_out, batch_size=64, epochs=12, verbose=0)
    predicted = _greedy_decode(encoder_model, decoder_model, test_src, length)
    exact = np.mean(np.all(predicted == test_out, axis=1))
    assert exact >= 0.95, f"exact-sequence accuracy {exact:.3f}"


def _peak_bytes_for_lstm_step(steps):
    model = keras.Sequential([keras.layers.LSTM(16, input_shape=(steps, 4)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(4, steps, 4)).astype("float32")
    y = np.zeros((4, 1), "float32")
    model.train_on_batch(x, y)                  # warm up: slots, first-call allocations
    tracemalloc.start()
    loss = model.train_on_batch(x, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert np.isfinite(loss)
    return peak


def test_lstm_over_1000_steps_trains_with_memory_linear_in_length():
    short, long = _peak_bytes_for_lstm_step(250), _peak_bytes_for_lstm_step(1000)
    # four times the steps: about four times the stored activations, not sixteen
    assert long < 6 * short, f"peak memory {short} B for 250 steps, {long} B for 1000 steps"
