"""The model table shared by shendu's tests and the tf.keras 2 driver: each builder takes a Keras-like
module (``shendu.keras`` or ``tf_keras``) and returns (model, compile arguments, data shapes).

Every layer is named, so that weights compare layer by layer across the two frameworks. Nothing
here imports a framework: the caller passes one in.
"""
from __future__ import annotations

import numpy as np


def mlp(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((6,), name="features"), L.Dense(8, activation="relu", name="hidden"),
                              L.Dense(3, activation="softmax", name="probs")], name="mlp")
    return model, dict(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])


def cnn(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"),
                              L.Conv2D(4, 3, activation="relu", name="conv"),
                              L.BatchNormalization(name="bn"), L.MaxPooling2D(name="pool"),
                              L.Dropout(0.25, name="drop"), L.Flatten(name="flat"),
                              L.Dense(3, activation="softmax", name="probs")], name="cnn")
    return model, dict(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])


def rnn(keras):
    L = keras.layers
    model = keras.Sequential([keras.Input((7,), dtype="int32", name="tokens"),
                              L.Embedding(20, 4, mask_zero=True, name="embed"),
                              L.LSTM(5, return_sequences=True, name="lstm"), L.GRU(3, name="gru"),
                              L.Dense(1, activation="sigmoid", name="score")], name="rnn")
    return model, dict(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])


def two_io(keras):
    L = keras.layers
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = L.Concatenate(name="join")([L.Dense(5, activation="tanh", name="da")(a), b])
    out1 = L.Dense(2, name="out1")(h)
    out2 = L.Dense(1, activation="sigmoid", name="out2")(h)
    model = keras.Model([a, b], [out1, out2], name="two_io")
    return model, dict(optimizer=keras.optimizers.Adam(0.01), loss=["mse", "binary_crossentropy"],
                       loss_weights=[1.0, 0.5], metrics=[["mae"], ["accuracy"]])


def gan(keras):
    """The tutorials' GAN: the combined model calls the generator and a frozen discriminator."""
    L = keras.layers
    generator = keras.Sequential([keras.Input((4,), name="z"), L.Dense(8, name="g_dense"),
                                  L.LeakyReLU(0.2, name="g_act"), L.Dense(6, activation="tanh", name="g_out")],
                                 name="generator")
    discriminator = keras.Sequential([keras.Input((6,), name="sample"), L.Dense(8, name="d_dense"),
                                      L.LeakyReLU(0.2, name="d_act"),
                                      L.Dense(1, activation="sigmoid", name="d_out")], name="discriminator")
    discriminator.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    discriminator.trainable = False
    z = keras.Input((4,), name="noise")
    model = keras.Model(z, discriminator(generator(z)), name="combined")
    return model, dict(optimizer=keras.optimizers.Adam(0.01, beta_1=0.5), loss="binary_crossentropy")


MODELS = {"mlp": mlp, "cnn": cnn, "rnn": rnn, "two_io": two_io, "gan": gan}


def make_data(seed: int = 0) -> dict:
    """Inputs and targets for each model: ``<model>/<split>/x<i>`` and ``<model>/<split>/y<i>``, split in
    (fit, test, more): a first step before saving, the prediction check, one more step after loading."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in (("fit", 6), ("test", 5), ("more", 6)):
        xs = {"mlp": [rng.normal(size=(n, 6))], "cnn": [rng.normal(size=(n, 8, 8, 1))],
              "rnn": [rng.integers(0, 20, size=(n, 7))], "two_io": [rng.normal(size=(n, 4)), rng.normal(size=(n, 3))],
              "gan": [rng.normal(size=(n, 4))]}
        tokens = xs["rnn"][0]
        tokens[:, 5:] = 0                                  # padding, masked by mask_zero
        ys = {"mlp": [rng.integers(0, 3, size=(n,))], "cnn": [rng.integers(0, 3, size=(n,))],
              "rnn": [rng.integers(0, 2, size=(n, 1))],
              "two_io": [rng.normal(size=(n, 2)), rng.integers(0, 2, size=(n, 1))], "gan": [np.ones((n, 1))]}
        for layer, (shape, _) in LAYER_ZOO.items():
            if split == "test":
                data[f"zoo_{layer}/test/x0"] = rng.normal(size=(3,) + shape).astype("float32")
        for name in MODELS:
            for i, x in enumerate(xs[name]):
                data[f"{name}/{split}/x{i}"] = x.astype("int32" if name == "rnn" else "float32")
            for i, y in enumerate(ys[name]):
                data[f"{name}/{split}/y{i}"] = y.astype("float32")
    return data


def split(data: dict, name: str, part: str):
    """(x, y) of one split: a single array or a list of arrays, as the model takes them."""
    xs = [data[f"{name}/{part}/x{i}"] for i in range(2) if f"{name}/{part}/x{i}" in data]
    ys = [data[f"{name}/{part}/y{i}"] for i in range(2) if f"{name}/{part}/y{i}" in data]
    return (xs[0] if len(xs) == 1 else xs), (ys[0] if len(ys) == 1 else ys)


def layer_weights(model, prefix: str = "") -> dict:
    """``{"<layer path>/<i>": array}`` over every layer, nested models walked: comparable across frameworks."""
    out = {}
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if _is_model(layer):
            out.update(layer_weights(layer, path + "/"))
            continue
        for i, w in enumerate(layer.get_weights()):
            out[f"{path}/{i}"] = np.asarray(w)
    return out


def drop_dropout(model) -> None:
    """Dropout masks are random in each framework: the step compared across them runs with rate 0."""
    for layer in model.layers:
        if _is_model(layer):
            drop_dropout(layer)
        elif type(layer).__name__ == "Dropout":
            layer.rate = 0.0


def _is_model(layer) -> bool:
    return type(layer).__name__ in ("Sequential", "Functional", "Model")


# one layer at a time, for the layers both frameworks have: (input shape, layer factory)
LAYER_ZOO = {
    "activation": ((5,), lambda L, n: L.Activation("tanh", name=n)),
    "elu": ((5,), lambda L, n: L.ELU(0.7, name=n)),
    "relu": ((5,), lambda L, n: L.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.05, name=n)),
    "prelu": ((5,), lambda L, n: L.PReLU(name=n)),
    "softmax": ((5,), lambda L, n: L.Softmax(name=n)),
    "leaky_relu": ((5,), lambda L, n: L.LeakyReLU(0.1, name=n)),
    "conv1d": ((9, 3), lambda L, n: L.Conv1D(4, 3, strides=2, padding="same", activation="relu", name=n)),
    "conv2d_transpose": ((5, 5, 2), lambda L, n: L.Conv2DTranspose(3, 3, strides=2, padding="same", name=n)),
    "avg_pool": ((6, 6, 2), lambda L, n: L.AveragePooling2D(2, name=n)),
    "max_pool1d": ((8, 3), lambda L, n: L.MaxPooling1D(2, name=n)),
    "global_avg": ((6, 6, 2), lambda L, n: L.GlobalAveragePooling2D(name=n)),
    "global_max1d": ((8, 3), lambda L, n: L.GlobalMaxPooling1D(name=n)),
    "layer_norm": ((4, 5), lambda L, n: L.LayerNormalization(name=n)),
    "simple_rnn": ((6, 3), lambda L, n: L.SimpleRNN(4, return_sequences=True, name=n)),
    "gru_before": ((6, 3), lambda L, n: L.GRU(4, reset_after=False, name=n)),
    "bidirectional": ((6, 3), lambda L, n: L.Bidirectional(L.LSTM(3, return_sequences=True), name=n)),
    "time_distributed": ((4, 5), lambda L, n: L.TimeDistributed(L.Dense(2), name=n)),
    "reshape": ((6,), lambda L, n: L.Reshape((2, 3), name=n)),
    "permute": ((2, 3), lambda L, n: L.Permute((2, 1), name=n)),
    "repeat": ((3,), lambda L, n: L.RepeatVector(2, name=n)),
    "zero_pad": ((4, 4, 1), lambda L, n: L.ZeroPadding2D(1, name=n)),
    "upsampling": ((3, 3, 1), lambda L, n: L.UpSampling2D(2, name=n)),
    "cropping": ((6, 6, 1), lambda L, n: L.Cropping2D(1, name=n)),
    "masking": ((4, 3), lambda L, n: L.Masking(0.0, name=n)),
    "spatial_dropout": ((6, 3), lambda L, n: L.SpatialDropout1D(0.2, name=n)),
    "gaussian_noise": ((5,), lambda L, n: L.GaussianNoise(0.1, name=n)),
    "rescaling": ((5,), lambda L, n: L.Rescaling(0.5, offset=1.0, name=n)),
    "mha_self": ((4, 6), None),
    "dense_regularized": ((5,), lambda L, n: L.Dense(3, kernel_regularizer="l2", use_bias=False, name=n)),
}


def zoo_model(keras, name):
    """A small model around one layer of ``LAYER_ZOO`` (MultiHeadAttention: called on x twice)."""
    shape, factory = LAYER_ZOO[name]
    x = keras.Input(shape, name="x")
    if name == "mha_self":
        y = keras.layers.MultiHeadAttention(2, 3, name="layer")(x, x)
    else:
        y = factory(keras.layers, "layer")(x)
    return keras.Model(x, y, name=f"zoo_{name}")
