"""The workloads in shendu, written as a tf.keras user writes them: ``train_on_batch``, ``predict``, and
the keras-io DCGAN's ``GradientTape`` loop. ``step(workload, smoke)`` returns a function running one step."""
from __future__ import annotations

import spec


def models(workload, s, keras):
    """The model of ``workload`` built with ``keras``: shendu.keras, or Keras 3 itself for its peer run."""
    Sequential, layers = keras.Sequential, keras.layers
    if workload == "mlp":
        return Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                           layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    if workload in ("cnn", "predict"):
        return Sequential([layers.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    if workload in ("lstm", "bilstm"):
        rnn = layers.LSTM(64) if workload == "lstm" else layers.Bidirectional(layers.LSTM(64))
        return Sequential([layers.Input((s["time"],), dtype="int32"), layers.Embedding(10000, 64), rnn,
                           layers.Dense(10, activation="softmax")])
    if workload == "bigconv":
        return Sequential([layers.Input((28, 28, s["channels"])), layers.Conv2D(1, 7, padding="same")])
    if workload == "bncnn":
        return Sequential([layers.Input((28, 28, 1)), layers.Conv2D(32, 3), layers.BatchNormalization(),
                           layers.ReLU(), layers.MaxPooling2D(2), layers.Conv2D(64, 3), layers.BatchNormalization(),
                           layers.ReLU(), layers.MaxPooling2D(2), layers.Flatten(),
                           layers.Dense(10, activation="softmax")])
    if workload == "sepconv":
        return Sequential([layers.Input((32, 32, 16)), layers.SeparableConv2D(32, 3, padding="same", activation="relu"),
                           layers.DepthwiseConv2D(3, padding="same"), layers.GlobalAveragePooling2D(),
                           layers.Dense(10, activation="softmax")])
    if workload == "transformer":
        inputs = layers.Input((s["time"], 128))
        h = layers.LayerNormalization()(layers.Add()([inputs, layers.MultiHeadAttention(4, 32)(inputs, inputs)]))
        f = layers.Dense(128)(layers.Dense(256, activation="relu")(h))
        h = layers.LayerNormalization()(layers.Add()([h, f]))
        outputs = layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling1D()(h))
        return keras.Model(inputs, outputs)
    if workload == "textcnn":
        return Sequential([layers.Input((s["time"],), dtype="int32"), layers.Embedding(10000, 64),
                           layers.Conv1D(128, 5, activation="relu"), layers.GlobalMaxPooling1D(),
                           layers.Dense(10, activation="softmax")])
    if workload == "lstmseq":
        return Sequential([layers.Input((s["time"],), dtype="int32"), layers.Embedding(5000, 64),
                           layers.LSTM(128, return_sequences=True),
                           layers.TimeDistributed(layers.Dense(64, activation="relu")),
                           layers.GlobalAveragePooling1D(), layers.Dense(10, activation="softmax")])
    raise ValueError(workload)


def _gan(keras):
    Sequential, layers = keras.Sequential, keras.layers
    G = Sequential([layers.Input((spec.LATENT,)), layers.Dense(7 * 7 * 128), layers.Reshape((7, 7, 128)),
                    layers.Conv2DTranspose(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
                    layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")])
    D = Sequential([layers.Input((28, 28, 1)), layers.Conv2D(64, 4, strides=2, padding="same"), layers.LeakyReLU(0.2),
                    layers.Conv2D(128, 4, strides=2, padding="same"), layers.LeakyReLU(0.2), layers.Flatten(),
                    layers.Dense(1)])
    return G, D


def step(workload: str, smoke: bool):
    import numpy as np

    import shendu
    from shendu import keras

    s = spec.sizes(workload, smoke)
    x, y = spec.data(workload, smoke)
    weights = spec.initial_weights(workload, smoke)
    if workload == "dcgan":
        G, D = _gan(keras)
        G.set_weights(weights["G"])
        D.set_weights(weights["D"])
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        g_opt, d_opt = keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4)
        b = s["batch"]
        labels = np.concatenate([np.ones((b, 1)), np.zeros((b, 1))]).astype(np.float32)

        def gan_step():                  # the keras-io DCGAN train_step
            fake = G(y)                                  # noise -> images, outside the tape as in keras-io
            images = shendu.concatenate([fake, shendu.tensor(x)], axis=0)
            with shendu.GradientTape() as tape:          # D: fakes labelled 1, real images 0 (keras-io)
                d_loss = bce(labels, D(images))
            grads = tape.gradient(d_loss, D.trainable_weights)
            d_opt.apply_gradients(zip(grads, D.trainable_weights))
            with shendu.GradientTape() as tape:          # G: make D call the fakes real
                g_loss = bce(labels[b:], D(G(y)))
            grads = tape.gradient(g_loss, G.trainable_weights)
            g_opt.apply_gradients(zip(grads, G.trainable_weights))
        return gan_step

    model = models(workload, s, keras)
    model.set_weights(weights["model"])
    if workload == "predict":
        return lambda: model.predict(x, batch_size=s["batch"], verbose=0)
    model.compile(optimizer="adam", loss="mse" if workload == "bigconv" else "sparse_categorical_crossentropy")
    return lambda: model.train_on_batch(x, y)
