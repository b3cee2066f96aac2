"""The README's main job, ``shendu demo``: the tutorial CNN learns MNIST digits, written exactly as with
tf.keras, and leaves a run folder behind (the saved model, the history, its curves, the predictions and
a trace of the first batch). ``demo_xor`` is the same idea with nothing but Tensors and ``backward()``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

import shendu as sd
import shendu.keras as keras
from shendu.data import keras_datasets
from shendu.data.datasets import load_mnist_test


def demo_xor(epochs: int = 2000, lr: float = 0.5, seed: int = 1) -> float:
    """A 2-4-1 network learns XOR with plain gradient descent θ ← θ - α ∇L, written with the low-level API."""
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


def mnist_for_demo(train_size: int = 10_000):
    """Keras's full MNIST when it is already in the Keras cache (never downloading: the demo runs offline),
    else the embedded 10,000-image test set split 8,000 / 2,000. Returns the arrays and a line saying which."""
    full = keras_datasets.cached_mnist()
    if full is not None:
        (x_train, y_train), (x_test, y_test) = full
        return (x_train[:train_size], y_train[:train_size]), (x_test, y_test), (
            f"MNIST from the Keras cache: {min(train_size, len(x_train)):,} training images, "
            f"{len(x_test):,} test images")
    (x_train, y_train), (x_test, y_test) = keras_datasets.split_embedded_mnist()
    return (x_train, y_train), (x_test, y_test), (
        "the MNIST test set embedded in shendu: 8,000 images to train on, 2,000 held out to judge")


def tutorial_cnn():
    """The tutorials' CNN: two conv/pool stages, then a dense classifier."""
    return keras.Sequential([
        keras.layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def demo_mnist(epochs: int = 3, out="shendu-demo", data=None) -> float:
    """Train the tutorial CNN, print its held-out accuracy, and write the run folder ``out``."""
    if data is not None:                                     # a folder holding mnist/t10k-*-ubyte.gz
        images, labels = load_mnist_test(data)
        (x_train, y_train), (x_test, y_test) = (images[:8000], labels[:8000]), (images[8000:], labels[8000:])
        source = f"the MNIST test set in {data}: 8,000 images to train on, 2,000 held out"
    else:
        (x_train, y_train), (x_test, y_test), source = mnist_for_demo()
    print(f"data: {source}")
    x_train = (x_train.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    x_test = (x_test.reshape(-1, 28, 28, 1) / 255.0).astype("float32")
    folder = Path(out).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(0)
    model = tutorial_cnn()
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    write_first_batch_trace(model, x_train[:64], y_train[:64], folder / "first_batch_trace.md")
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=64, validation_data=(x_test, y_test),
                        callbacks=[keras.callbacks.CSVLogger(str(folder / "history.csv"))])
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"held-out digits: loss {loss:.4f}, accuracy {accuracy:.2%}")
    model.save(str(folder / "model.keras"))
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_test)[:10]         # show the mistakes too, not only the easy digits
    shown = np.concatenate([np.setdiff1d(np.arange(40), wrong)[:40 - len(wrong)], wrong])
    written = write_pictures(history.history, x_test[shown], y_test[shown], predicted[shown], folder)
    print("wrote: model.keras, history.csv, first_batch_trace.md" + "".join(f", {name}" for name in written))
    print(f"run folder: {folder}")
    return accuracy


def write_first_batch_trace(model, x, y, file: Path) -> None:
    """The first batch's ops, forward and backward, as a Markdown table (a copy of the model, so the
    training run itself is untouched)."""
    trace = getattr(sd, "trace", None)
    if trace is None or not callable(trace):
        file.write_text("# First batch\n\nThis build of shendu has no `shendu.trace`.\n", encoding="utf-8")
        return
    clone = tutorial_cnn()
    clone.build((None, 28, 28, 1))
    model.build((None, 28, 28, 1))
    clone.set_weights(model.get_weights())
    clone.fuse_conv_pool = False        # each layer's own op and formula, as the tutorial draws them
    with trace() as t:
        probabilities = clone(x)
        loss = keras.losses.sparse_categorical_crossentropy(y, probabilities).mean()
        loss.backward()
    note = ("Training runs each Conv2D and the MaxPooling2D after it as one op, `Conv2DActPool`, without "
            "writing the convolution's output whole; this trace runs them apart (`model.fuse_conv_pool = False`) "
            "so that each layer's formula shows. The numbers are the same.\n\n")
    file.write_text("# The tutorial CNN's first batch, op by op\n\n" + note + t.to_markdown(), encoding="utf-8")


def write_pictures(history: dict, images, labels, predicted, folder: Path) -> list:
    """``curves.png`` (loss and accuracy per epoch) and ``predictions.png`` (test digits, wrong ones in red)."""
    try:
        import matplotlib                                    # optional (the 'plot' extra): imported on use
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed (pip install 'shendu[plot]'), so no PNGs were written.")
        return []
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s--", label="held out")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "curves.png", dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(4, 10, figsize=(10, 4.6))
    for ax, image, label, guess in zip(axes.ravel(), images, labels, predicted):
        ax.imshow(image.reshape(28, 28), cmap="gray_r")
        ax.set_title(f"{guess}" if guess == label else f"{guess} (is {label})",
                     color="black" if guess == label else "red", fontsize=9)
        ax.axis("off")
    fig.suptitle("held-out digits: predicted label (wrong ones in red)")
    fig.tight_layout()
    fig.savefig(folder / "predictions.png", dpi=100)
    plt.close(fig)
    return ["curves.png", "predictions.png"]


def default_out() -> str:
    return os.environ.get("SHENDU_DEMO_OUT", "shendu-demo")
