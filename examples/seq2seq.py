"""Seq2Seq with teacher forcing: an LSTM encoder reads a sequence of digits, an LSTM decoder started from
its final states writes the digits reversed; at inference the decoder feeds back its own predictions
(greedy decoding). The tutorials' encoder–decoder, on a task with a checkable answer.

Run: python examples/seq2seq.py [--epochs 25] [--samples 3000] [--length 5]
"""
from __future__ import annotations

import argparse

import numpy as np

import shendu.keras as keras
from shendu.keras import layers

START = 10                                       # token 10 starts the decoder; 0-9 are digits


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--length", type=int, default=5)
    parser.add_argument("--units", type=int, default=128)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    source = rng.integers(0, 10, (args.samples, args.length))
    target = source[:, ::-1]
    decoder_in = np.concatenate([np.full((args.samples, 1), START), target[:, :-1]], axis=1)   # shifted right
    one_hot = np.eye(11, dtype="float32")

    keras.utils.set_random_seed(0)
    encoder_inputs = keras.Input(shape=(None, 11))
    _, h, c = layers.LSTM(args.units, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, 11))
    decoder_lstm = layers.LSTM(args.units, return_sequences=True, return_state=True)
    decoder_dense = layers.Dense(10, activation="softmax")
    decoded, _, _ = decoder_lstm(decoder_inputs, initial_state=[h, c])
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_dense(decoded))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    cut = int(0.9 * args.samples)
    model.fit([one_hot[source[:cut]], one_hot[decoder_in[:cut]]], target[:cut], batch_size=64, epochs=args.epochs,
              verbose=2)

    # inference: the encoder gives the states, then the decoder runs one step at a time on its own output
    encoder = keras.Model(encoder_inputs, [h, c])
    state_h, state_c = keras.Input(shape=(args.units,)), keras.Input(shape=(args.units,))
    step_out, step_h, step_c = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder = keras.Model([decoder_inputs, state_h, state_c], [decoder_dense(step_out), step_h, step_c])
    held_out = source[cut:]
    h_val, c_val = encoder.predict(one_hot[held_out], verbose=0)
    token = np.full((len(held_out), 1), START)
    written = []
    for _ in range(args.length):
        probabilities, h_val, c_val = decoder.predict([one_hot[token], h_val, c_val], verbose=0)
        token = probabilities.argmax(axis=-1)
        written.append(token[:, 0])
    written = np.stack(written, axis=1)
    exact = float((written == held_out[:, ::-1]).all(axis=1).mean())
    for s, w in list(zip(held_out, written))[:3]:
        print(f"  {''.join(map(str, s))} -> {''.join(map(str, w))}")
    print(f"held-out sequences reversed exactly: {exact:.1%}")
    return {"exact": exact}


if __name__ == "__main__":
    main()
