"""A small Transformer encoder classifies review sentences: token + position embeddings → one encoder block
(multi-head self-attention, feed-forward, residuals and layer normalization) → average over positions →
Dense(sigmoid). The keras-io "text classification with Transformer" recipe, on the embedded reviews.

    x ← LN(x + MHA(x, x)),   x ← LN(x + FFN(x)),   MHA: softmax(Q Kᵀ / √d) V per head

Run: python examples/transformer_classifier.py [--epochs 8] [--data DIR]
"""
from __future__ import annotations

import argparse

import numpy as np

import shendu as tf
from shendu import keras
from shendu.data.datasets import load_sentiment
from shendu.keras import layers
from shendu.keras.preprocessing.sequence import pad_sequences
from shendu.keras.preprocessing.text import Tokenizer


class TransformerBlock(layers.Layer):
    """One encoder block: self-attention then a position-wise feed-forward network, each with a residual."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=None):
        attended = self.dropout1(self.att(inputs, inputs), training=training)
        out1 = self.layernorm1(inputs + attended)
        return self.layernorm2(out1 + self.dropout2(self.ffn(out1), training=training))


class TokenAndPositionEmbedding(layers.Layer):
    """Each token's embedding plus the embedding of its position: attention alone does not know order."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        positions = self.pos_emb(tf.range(start=0, limit=tf.shape(x)[-1], delta=1))
        return self.token_emb(x) + positions


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--maxlen", type=int, default=32)
    parser.add_argument("--data", default=None, help="a folder holding sentiment/")
    args = parser.parse_args(argv)

    texts, labels = load_sentiment(args.data)
    order = np.random.default_rng(42).permutation(len(texts))
    texts, labels = [texts[i] for i in order], labels[order]
    cut = int(0.8 * len(texts))
    tokenizer = Tokenizer(num_words=5000, oov_token="<OOV>")
    tokenizer.fit_on_texts(texts[:cut])
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=args.maxlen, padding="post", truncating="post")
    vocab_size = min(len(tokenizer.word_index) + 1, 5000)

    keras.utils.set_random_seed(0)
    inputs = layers.Input(shape=(args.maxlen,))
    h = TokenAndPositionEmbedding(args.maxlen, vocab_size, 32)(inputs)
    h = TransformerBlock(32, 2, 32)(h)
    h = layers.GlobalAveragePooling1D()(h)
    h = layers.Dropout(0.2)(h)
    outputs = layers.Dense(1, activation="sigmoid")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:cut], labels[:cut], epochs=args.epochs, batch_size=32, validation_data=(x[cut:], labels[cut:]),
              verbose=2)
    loss, accuracy = model.evaluate(x[cut:], labels[cut:], verbose=0)
    print(f"held-out sentences: loss {loss:.4f}, accuracy {accuracy:.1%}")
    return {"loss": loss, "accuracy": accuracy}


if __name__ == "__main__":
    main()
