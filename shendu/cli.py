"""The ``shendu`` command: ``shendu demo`` trains a small model and shows the loss falling."""
from __future__ import annotations

import argparse


def demo_xor(epochs: int = 2000, lr: float = 0.5, seed: int = 1) -> float:
    """A 2-4-1 network learns XOR with plain gradient descent θ ← θ - α ∇L, written with the low-level API."""
    import numpy as np

    import shendu as sd

    rng = np.random.default_rng(seed)
    x = sd.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = sd.tensor([[0], [1], [1], [0]], dtype="float32")
    W1 = sd.tensor(rng.normal(0, 1, (2, 4)).astype("float32"), requires_grad=True)
    b1 = sd.tensor(np.zeros(4, "float32"), requires_grad=True)
    W2 = sd.tensor(rng.normal(0, 1, (4, 1)).astype("float32"), requires_grad=True)
    b2 = sd.tensor(np.zeros(1, "float32"), requires_grad=True)
    params = [W1, b1, W2, b2]
    for epoch in range(epochs + 1):
        a1 = sd.tanh(x @ W1 + b1)                   # z = Wa + b, a = f(z)
        p = sd.sigmoid(a1 @ W2 + b2)
        loss = sd.losses.binary_crossentropy(y, p).mean()
        for w in params:
            w.grad = None
        loss.backward()                              # the δ recursion, done by autodiff
        with sd.no_grad():
            for w in params:
                w.data -= lr * w.grad.data           # θ ← θ − α ∇θ L
        if epoch % (epochs // 10) == 0:
            print(f"epoch {epoch:5d}  loss {loss.item():.4f}")
    print("predictions:", np.round(p.numpy().ravel(), 3), "targets:", y.numpy().ravel())
    return loss.item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="shendu", description="shendu (深度): deep learning from first principles")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small network and print the loss falling")
    demo.add_argument("--epochs", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo_xor(epochs=args.epochs)
    return 0
