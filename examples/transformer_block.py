"""A Transformer encoder block and decoder block in a few lines each, trained on a toy task.

Task: read a sequence of digits and write it reversed. The encoder reads the digits; the decoder
writes the answer one digit at a time, seeing its own earlier digits (causal self-attention) and the
encoder's output (cross-attention). Trained with a manual GradientTape loop; the loss falls.

    python examples/transformer_block.py
"""
from __future__ import annotations

import numpy as np

import shendu as sd
from shendu.optimizers import Adam
from shendu.layers import (Dense, Dropout, Layer, LayerNormalization, MultiHeadAttention,
                           PositionalEncoding)


class EncoderBlock(Layer):
    """x ← LN(x + MHA(x, x));  x ← LN(x + FFN(x)), FFN(x) = relu(x W1 + b1) W2 + b2  (post-norm, Vaswani et al.)"""

    def __init__(self, d_model, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.attention = MultiHeadAttention(num_heads=num_heads, key_dim=d_model // num_heads)
        self.ffn = [Dense(ff_dim, activation="relu"), Dense(d_model)]
        self.norm1, self.norm2 = LayerNormalization(epsilon=1e-6), LayerNormalization(epsilon=1e-6)
        self.drop1, self.drop2 = Dropout(rate), Dropout(rate)

    def call(self, x, training=None):
        x = self.norm1(x + self.drop1(self.attention(x, x), training=training))
        return self.norm2(x + self.drop2(self.ffn[1](self.ffn[0](x)), training=training))


class DecoderBlock(Layer):
    """y ← LN(y + causal MHA(y, y));  y ← LN(y + MHA(y, encoder));  y ← LN(y + FFN(y))"""

    def __init__(self, d_model, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = MultiHeadAttention(num_heads=num_heads, key_dim=d_model // num_heads, dropout=rate)
        self.cross_attention = MultiHeadAttention(num_heads=num_heads, key_dim=d_model // num_heads, dropout=rate)
        self.ffn = [Dense(ff_dim, activation="relu"), Dense(d_model)]
        self.norms = [LayerNormalization(epsilon=1e-6) for _ in range(3)]

    def call(self, inputs, training=None):
        y, context = inputs
        y = self.norms[0](y + self.self_attention(y, y, use_causal_mask=True, training=training))
        y = self.norms[1](y + self.cross_attention(y, context, training=training))
        return self.norms[2](y + self.ffn[1](self.ffn[0](y)))


class Reverser(Layer):
    """Digits in, reversed digits out: embed + positions, one encoder block, one decoder block, logits."""

    def __init__(self, vocab, d_model=32, num_heads=4, ff_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.vocab = vocab
        self.embed_source, self.embed_target = Dense(d_model, use_bias=False), Dense(d_model, use_bias=False)
        self.positions = PositionalEncoding()
        self.encoder = EncoderBlock(d_model, num_heads, ff_dim)
        self.decoder = DecoderBlock(d_model, num_heads, ff_dim)
        self.logits = Dense(vocab)

    def call(self, inputs, training=None):
        source, target_in = inputs          # one-hot digits (batch, T, vocab); a lookup written as x @ E
        context = self.encoder(self.positions(self.embed_source(source)), training=training)
        y = self.decoder([self.positions(self.embed_target(target_in)), context], training=training)
        return self.logits(y)


def make_batch(rng, batch, length, digits):
    """source digits 1..digits, target = reversed; the decoder input is the target shifted right after a 0 (start)."""
    source = rng.integers(1, digits + 1, (batch, length))
    target = source[:, ::-1]
    target_in = np.concatenate([np.zeros((batch, 1), int), target[:, :-1]], axis=1)
    one_hot = np.eye(digits + 1, dtype=np.float32)
    return one_hot[source], one_hot[target_in], target


def main(steps: int = 60, seed: int = 0) -> list[float]:
    sd.set_seed(seed)
    rng = np.random.default_rng(seed)
    digits, length = 6, 5
    model = Reverser(vocab=digits + 1)
    optimizer = Adam(learning_rate=3e-3)
    loss_fn = sd.losses.SparseCategoricalCrossentropy(from_logits=True)
    history = []
    for step in range(steps):
        source, target_in, target = make_batch(rng, 32, length, digits)
        with sd.GradientTape() as tape:
            logits = model([source, target_in], training=True)
            loss = loss_fn(target, logits)
        weights = model.trainable_weights
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        history.append(float(loss.item()))
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {history[-1]:.4f}")

    source, target_in, target = make_batch(rng, 256, length, digits)
    predicted = model([source, target_in]).numpy().argmax(-1)     # teacher-forced: each step sees the true prefix
    print(f"loss {history[0]:.3f} -> {history[-1]:.3f}; per-digit accuracy {np.mean(predicted == target):.2f}")
    return history


if __name__ == "__main__":
    main()
