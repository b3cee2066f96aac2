"""Trains a small CNN and a small LSTM classifier under MPIStrategy and writes the weights, History,
evaluate and predict results to OUT.npz (worker 0 only). Run alone or with mpiexec -n N: the results
must agree."""
import json
import os
import sys

import numpy as np

import shendu as tf

keras = tf.keras


def cnn():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(3)])


def lstm():
    return keras.Sequential([keras.Input((6, 4)), keras.layers.LSTM(5), keras.layers.Dense(3)])


def train(strategy, build, x, y):
    tf.set_seed(7)
    with strategy.scope():
        model = build()
        model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_data=(x[:40], y[:40]))
    return model, history.history


def custom_loop(x, y):
    """A GradientTape loop: each worker takes its contiguous share of every batch of 50; the distributed
    optimizer averages the gradients (equal shares), so the steps are the full batch's."""
    tf.set_seed(3)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(3)])
    optimizer = tf.distribute.DistributedOptimizer(keras.optimizers.SGD(0.1))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rank, size = tf.distribute.rank(), tf.distribute.size()
    for start in range(0, 150, 50):
        share = slice(start + rank * 50 // size, start + (rank + 1) * 50 // size)
        with tf.GradientTape() as tape:
            loss = loss_fn(y[share], model(x[share]))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return model.get_weights()[0]


def main(out):
    if os.environ.get("STRICT_BACKEND") == "1":      # the CuPy-like strict arrays of tests/strict_xp.py
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
        import strict_xp
        tf.set_backend(strict_xp.module)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    rng = np.random.default_rng(0)
    results = {}
    # 129 samples: batches of 64, 64 and 1, so a one-sample batch meets two workers
    x_img = rng.normal(size=(129, 8, 8, 1)).astype("float32")
    y_img = (x_img[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64") + (x_img[:, 4:].mean(axis=(1, 2, 3)) > 0.1)
    x_seq = rng.normal(size=(150, 6, 4)).astype("float32")
    y_seq = (x_seq[:, :, 0].sum(1) > 0).astype("int64") + (x_seq[:, :, 1].sum(1) > 1)
    for name, build, x, y in (("cnn", cnn, x_img, y_img), ("lstm", lstm, x_seq, y_seq)):
        model, history = train(strategy, build, x, y)
        for i, w in enumerate(model.get_weights()):
            results[f"{name}_w{i}"] = w
        results[f"{name}_history"] = np.array(json.dumps(history))
        results[f"{name}_evaluate"] = np.array(model.evaluate(x, y, batch_size=50, verbose=0))
        results[f"{name}_predict"] = model.predict(x, batch_size=50, verbose=0)
    results["custom_loop"] = custom_loop(x_seq.reshape(150, -1), y_seq)
    results["allreduce"] = tf.distribute.allreduce([np.full(3, tf.distribute.rank() + 1.0, "float32")])[0]
    results["workers"] = np.array(strategy.num_replicas_in_sync)
    if strategy.is_chief:
        np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1])
