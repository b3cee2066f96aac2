"""The ``shendu`` command: ``shendu demo`` trains a small model and shows the loss falling; ``shendu bench``
times shendu against PyTorch (the benchmark suite, shendu/bench/suite.py)."""
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


def demo_mnist(epochs: int = 3, data=None) -> float:
    """The tutorial CNN, written exactly as with tf.keras, trained on 8,000 real MNIST digits and
    scored on 2,000 it has never seen."""
    import shendu.keras as keras
    from shendu.data.datasets import load_mnist_test

    images, labels = load_mnist_test(data)
    x = (images.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:8000], labels[:8000], epochs=epochs, batch_size=64, validation_split=0.1)
    loss, accuracy = model.evaluate(x[8000:], labels[8000:], verbose=0)
    print(f"held-out digits: loss {loss:.4f}, accuracy {accuracy:.2%}")
    return accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="shendu", description="shendu (深度): deep learning from first principles")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the tutorial CNN on MNIST digits (or --xor: a 2-4-1 network on XOR)")
    demo.add_argument("--xor", action="store_true", help="the low-level demo: XOR with Tensors and backward()")
    demo.add_argument("--epochs", type=int, default=None)
    demo.add_argument("--data", default=None, help="folder holding mnist/ (default: $SHENDU_DATA or ../shared/data)")
    sub.add_parser("bench", add_help=False,
                   help="time shendu against PyTorch, each in its own process (shendu bench --help for options)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from shendu.bench.suite import main as bench   # imported here: only this command needs the suite
        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "demo":
        if args.xor:
            demo_xor(epochs=args.epochs or 2000)
        else:
            demo_mnist(epochs=args.epochs or 3, data=args.data)
    return 0
