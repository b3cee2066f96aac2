"""An MLP classifies Iris flowers: scikit-learn prepares the data (split, standardize), tf.keras-style code
trains the network (4 → 16 ReLU → 3 softmax, categorical cross-entropy on one-hot labels).

Run: python examples/iris_mlp.py [--epochs 100] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import shendu.keras as keras
from shendu.keras.utils import to_categorical


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="example-output/iris_mlp", help="folder for the training curves")
    args = parser.parse_args(argv)

    X, y = load_iris(return_X_y=True)                  # shipped inside scikit-learn: no download
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)              # standardize with the training set's statistics only
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(4,)),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X_train, to_categorical(y_train, 3), epochs=args.epochs, batch_size=16,
                        validation_data=(X_test, to_categorical(y_test, 3)), verbose=0)
    loss, accuracy = model.evaluate(X_test, to_categorical(y_test, 3), verbose=0)
    print(f"Iris test set: loss {loss:.4f}, accuracy {accuracy:.1%}")
    predicted = model.predict(X_test, verbose=0).argmax(axis=1)
    print("confusion matrix (rows: true class):")
    print(np.array([[int(((y_test == t) & (predicted == p)).sum()) for p in range(3)] for t in range(3)]))
    _plot(history.history, Path(args.out))
    return {"loss": loss, "accuracy": accuracy}


def _plot(history, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(history[key], label="training")
        ax.plot(history["val_" + key], label="test")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'curves.png'}")


if __name__ == "__main__":
    main()
