"""An LSTM reads each MNIST digit row by row (28 time steps of 28 pixels) and classifies it from its last
hidden state: LSTM(64) → Dense(10, softmax).

Data as in mnist_cnn.py: keras.datasets.mnist.load_data(), or --data DIR.
Run: python examples/mnist_rows_lstm.py [--epochs 6] [--train-size 10000] [--data DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import shendu.keras as keras
from shendu.data.datasets import load_mnist_test


def load_rows(data=None, train_size=10_000):
    """Digits as (samples, 28 rows, 28 pixels) in [0, 1]."""
    if data:
        images, labels = load_mnist_test(data)
        (x_train, y_train), (x_test, y_test) = (images[:8000], labels[:8000]), (images[8000:], labels[8000:])
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return ((x_train[:train_size] / 255.0).astype("float32"), y_train[:train_size]), (
        (x_test / 255.0).astype("float32"), y_test)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz")
    parser.add_argument("--out", default="example-output/mnist_rows_lstm", help="folder for the curves")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_rows(args.data, args.train_size)
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),                  # 28 time steps, each one row of 28 pixels
        keras.layers.LSTM(args.units),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, validation_data=(x_test, y_test),
                        verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out digits, read row by row: loss {loss:.4f}, accuracy {accuracy:.2%}")
    _plot(history.history, Path(args.out))
    return {"loss": loss, "accuracy": accuracy}


def _plot(history, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(history["accuracy"], "o-", label="training")
    ax.plot(history["val_accuracy"], "s--", label="held out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'accuracy.png'}")


if __name__ == "__main__":
    main()
