"""An autoencoder compresses MNIST digits to 32 numbers and rebuilds them: encoder Dense(128) → Dense(32),
decoder Dense(128) → Dense(784, sigmoid), trained to reproduce its input (binary cross-entropy per pixel).

Data as in mnist_cnn.py: keras.datasets.mnist.load_data(), or --data DIR.
Run: python examples/autoencoder.py [--epochs 10] [--data DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import shendu.keras as keras
from shendu.data.datasets import load_mnist_test


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--code", type=int, default=32, help="size of the code between encoder and decoder")
    parser.add_argument("--data", default=None, help="a folder holding mnist/t10k-*-ubyte.gz")
    parser.add_argument("--out", default="example-output/autoencoder", help="folder for the picture")
    args = parser.parse_args(argv)

    if args.data:
        images, _ = load_mnist_test(args.data)
        x_train, x_test = images[:8000], images[8000:]
    else:
        (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
    x_train = (x_train[:args.train_size].reshape(-1, 784) / 255.0).astype("float32")
    x_test = (x_test.reshape(-1, 784) / 255.0).astype("float32")

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(784,))
    code = keras.layers.Dense(args.code, activation="relu")(keras.layers.Dense(128, activation="relu")(inputs))
    encoder = keras.Model(inputs, code, name="encoder")
    code_in = keras.Input(shape=(args.code,))
    rebuilt = keras.layers.Dense(784, activation="sigmoid")(keras.layers.Dense(128, activation="relu")(code_in))
    decoder = keras.Model(code_in, rebuilt, name="decoder")
    autoencoder = keras.Model(inputs, decoder(encoder(inputs)), name="autoencoder")
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    autoencoder.fit(x_train, x_train, epochs=args.epochs, batch_size=128, validation_data=(x_test, x_test),
                    verbose=2)
    reconstructed = autoencoder.predict(x_test, verbose=0)
    mse = float(((reconstructed - x_test) ** 2).mean())
    baseline = float(((x_train.mean(axis=0) - x_test) ** 2).mean())    # predicting the average digit
    print(f"held-out reconstruction error: {mse:.4f} (the average digit scores {baseline:.4f})")
    _plot(x_test[:10], reconstructed[:10], Path(args.out))
    return {"mse": mse, "baseline_mse": baseline}


def _plot(originals, rebuilt, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
    for i in range(10):
        axes[0, i].imshow(originals[i].reshape(28, 28), cmap="gray_r")
        axes[1, i].imshow(rebuilt[i].reshape(28, 28), cmap="gray_r")
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    fig.suptitle("top: held-out digits; bottom: rebuilt from 32 numbers")
    fig.tight_layout()
    fig.savefig(out / "reconstructions.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'reconstructions.png'}")


if __name__ == "__main__":
    main()
