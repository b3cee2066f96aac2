"""The tutorial CNN on MNIST digits: Conv2D(32) → MaxPooling → Conv2D(64) → MaxPooling → Flatten →
Dense(128) → Dense(10, softmax), trained with Adam on sparse categorical cross-entropy.

Data: keras.datasets.mnist.load_data() (Keras's cache, downloaded once; offline, the MNIST test set
embedded in shendu, split 8,000 / 2,000), or --data DIR holding mnist/t10k-*-ubyte.gz.
Run: python examples/mnist_cnn.py [--epochs 3] [--train-size 10000] [--data DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import shendu.keras as keras
from shendu.data.datasets import load_mnist_test


def load_digits(data=None, train_size=10_000):
    """(x_train, y_train), (x_test, y_test) scaled to [0, 1] with a channel axis."""
    if data:
        images, labels = load_mnist_test(data)
        (x_train, y_train), (x_test, y_test) = (images[:8000], labels[:8000]), (images[8000:], labels[8000:])
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, y_train = x_train[:train_size], y_train[:train_size]
    return ((x_train[..., None] / 255.0).astype("float32"), y_train), ((x_test[..., None] / 255.0).astype("float32"),
                                                                       y_test)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=10_000, help="training images used (default 10,000)")
    parser.add_argument("--test-size", type=int, default=None, help="test images scored (default: all)")
    parser.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz")
    parser.add_argument("--out", default="example-output/mnist_cnn", help="folder for the plots")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_digits(args.data, args.train_size)
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, validation_data=(x_test, y_test),
                        verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out digits: loss {loss:.4f}, accuracy {accuracy:.2%}")
    _plot(history.history, x_test[:20], y_test[:20], model.predict(x_test[:20], verbose=0).argmax(1), Path(args.out))
    return {"loss": loss, "accuracy": accuracy}


def _plot(history, images, labels, predicted, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.6))
    for ax, image, label, guess in zip(axes.ravel(), images, labels, predicted):
        ax.imshow(image[..., 0], cmap="gray_r")
        ax.set_title(str(guess), color="black" if guess == label else "red")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "predictions.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'predictions.png'}")


if __name__ == "__main__":
    main()
