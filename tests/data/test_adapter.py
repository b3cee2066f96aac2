"""fit / evaluate / predict on a Dataset, a PyDataset (Sequence) and a generator: the batches as the
data yields them, Keras's steps_per_epoch rule, tf.keras's errors; Keras 3 (torch) is the oracle
for the PyDataset and generator logs and for which batches each epoch reads."""
import warnings

import numpy as np
import pytest

import shendu as sd
from shendu.data import Dataset
from shendu.keras import Input, Model, Sequential, layers, utils


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1).astype("int64")
    return x, y


def _mlp():
    return Sequential([Input((4,)), layers.Dense(6, activation="tanh"), layers.Dense(3, activation="softmax")])


def _pair(weights=None):
    """Two identical compiled models (same start weights)."""
    a, b = _mlp(), _mlp()
    b.set_weights(weights or a.get_weights())
    a.set_weights(b.get_weights())
    for m in (a, b):
        m.compile(sd.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return a, b


class Batches(utils.PyDataset):
    """Batch i is rows [8i, 8i+8); records which batches were read and how many epochs ended."""

    def __init__(self, x, y, size=8, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size, self.read, self.ends = x, y, size, [], 0

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        self.read.append(i)
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.ends += 1


def test_fit_on_a_dataset_equals_fit_on_the_same_batches_of_arrays():
    x, y = _data()
    on_arrays, on_dataset = _pair()
    h1 = on_arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = on_dataset.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(on_arrays.get_weights(), on_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    assert on_dataset.evaluate(ds, verbose=0) == on_dataset.evaluate(x, y, batch_size=16, verbose=0)
    np.testing.assert_array_equal(on_dataset.predict(ds, verbose=0), on_dataset.predict(x, verbose=0))
    np.testing.assert_array_equal(on_dataset.predict(Dataset.from_tensor_slices(x).batch(5), verbose=0),
                                  on_dataset.predict(x, verbose=0))


def test_validation_data_and_sample_weights_from_a_dataset():
    x, y = _data()
    w = np.linspace(0.5, 2.0, len(x)).astype("float32")
    a, b = _pair()
    h1 = a.fit(x, y, sample_weight=w, batch_size=12, validation_data=(x[:20], y[:20]), shuffle=False, verbose=0)
    h2 = b.fit(Dataset.from_tensor_slices((x, y, w)).batch(12), verbose=0,
               validation_data=Dataset.from_tensor_slices((x[:20], y[:20])).batch(12))
    assert h1.history == h2.history


def test_class_weight_with_a_dataset_matches_arrays():
    x, y = _data()
    a, b = _pair()
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    h1 = a.fit(x, y, batch_size=16, class_weight=cw, shuffle=False, verbose=0)
    h2 = b.fit(Dataset.from_tensor_slices((x, y)).batch(16), class_weight=cw, verbose=0)
    assert h1.history == h2.history


def test_dict_elements_feed_named_inputs():
    x, y = _data()
    left, right = Input((2,), name="left"), Input((2,), name="right")
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([left, right]))
    model = Model([left, right], out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    ds = Dataset.from_tensor_slices(({"left": x[:, :2], "right": x[:, 2:]}, y)).batch(10)
    assert len(model.fit(ds, epochs=2, verbose=0).history["loss"]) == 2
    assert model.predict(ds, verbose=0).shape == (48, 3)


def test_infinite_dataset_needs_steps_per_epoch():
    x, y = _data()
    model, _ = _pair()
    endless = Dataset.from_tensor_slices((x, y)).shuffle(48, seed=0).batch(8).repeat()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(endless, epochs=1, verbose=0)
    history = model.fit(endless, epochs=3, steps_per_epoch=10, verbose=0)   # 10 > one pass: it repeats
    assert len(history.history["loss"]) == 3
    assert len(model.evaluate(endless, steps=2, verbose=0)) == 2
    with pytest.raises(ValueError, match="steps"):
        model.evaluate(endless, verbose=0)


def test_batch_size_or_y_given_with_a_dataset_is_an_error():
    x, y = _data()
    model, _ = _pair()
    ds = Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match=r"batch_size.*dataset\.batch\(16\)"):
        model.fit(ds, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="`y` must not be given"):
        model.fit(ds, y, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(ds, batch_size=4, verbose=0)


def test_steps_per_epoch_walks_through_a_finite_dataset_like_keras(keras):
    """Which batches each epoch reads, with steps_per_epoch smaller than the data: Keras 3's rule."""
    x, y = _data(n=80)

    def run(module, model):
        class Recorded(module.utils.PyDataset):
            read = []

            def __len__(self):
                return 10

            def __getitem__(self, i):
                self.read.append(i)
                return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]
        data = Recorded()
        model.compile(module.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(data, epochs=4, steps_per_epoch=4, shuffle=False, verbose=0)
        ran_out = any("ran out of data" in str(w.message) for w in caught)
        return data.read, len(history.history["loss"]), ran_out

    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ours = Sequential([Input((4,)), layers.Dense(3, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    read, epochs, ran_out = run(keras, theirs)
    read = read[1:]          # Keras 3 reads batch 0 once more, before training, to build the model
    assert run(sd.keras, ours) == (read, epochs, ran_out)
    # epochs of 4 batches: 0-3, 4-7, then 8-9 and the warning, then a fresh pass
    assert read == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3] and ran_out


def test_py_dataset_logs_match_keras(keras):
    x, y = _data()
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                               keras.layers.Dense(3, activation="softmax")])
    ours = _mlp()
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    ours.compile(sd.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])

    class TheirBatches(keras.utils.PyDataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    h_theirs = theirs.fit(TheirBatches(), epochs=2, shuffle=False, verbose=0)
    mine = Batches(x, y)
    h_ours = ours.fit(mine, epochs=2, shuffle=False, verbose=0)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5)
    assert mine.ends == 2
    np.testing.assert_allclose(ours.evaluate(Batches(x, y), verbose=0), theirs.evaluate(TheirBatches(), verbose=0),
                               rtol=1e-5)
    np.testing.assert_allclose(ours.predict(Batches(x, y), verbose=0), theirs.predict(TheirBatches(), verbose=0),
                               atol=1e-6)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")   # Keras 3 warns at a generator's end
def test_generator_logs_match_keras(keras):
    x, y = _data()
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    ours = Sequential([Input((4,)), layers.Dense(3, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    theirs.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    ours.compile(sd.keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")

    def gen():
        for i in range(0, 48, 16):
            yield x[i:i + 16], y[i:i + 16]
    # no steps_per_epoch: the generator's length is learnt by reading it
    np.testing.assert_allclose(ours.fit(gen(), verbose=0).history["loss"],
                               theirs.fit(gen(), shuffle=False, verbose=0).history["loss"], rtol=1e-5)


def test_py_dataset_threads_shuffling_and_the_sequence_alias():
    x, y = _data()
    assert utils.Sequence is utils.PyDataset
    a, b = _pair()
    h1 = a.fit(Batches(x, y), epochs=2, shuffle=False, verbose=0)
    threaded = Batches(x, y, workers=3, max_queue_size=4)
    h2 = b.fit(threaded, epochs=2, shuffle=False, verbose=0)
    assert h1.history == h2.history and threaded.ends == 2
    shuffled = Batches(x, y)
    a.fit(shuffled, epochs=1, verbose=0)                    # fit's default shuffle=True reorders the batches
    assert sorted(shuffled.read) == list(range(6)) and shuffled.read != list(range(6))

    class Legacy(utils.Sequence):                           # tf.keras 2 style: no super().__init__()
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return x[i * 24:(i + 1) * 24], y[i * 24:(i + 1) * 24]
    assert len(a.fit(Legacy(), epochs=2, verbose=0).history["loss"]) == 2


def test_each_batch_is_unpacked_as_keras_does():
    from shendu.data.adapter import unpack_x_y_sample_weight
    x, y, w = np.zeros(2), np.ones(2), np.full(2, 3.0)
    assert unpack_x_y_sample_weight((x,))[1:] == (None, None)
    assert unpack_x_y_sample_weight([x, y])[1] is y
    assert unpack_x_y_sample_weight((x, y, w))[2] is w
    assert unpack_x_y_sample_weight({"a": x})[0] == {"a": x}
    with pytest.raises(ValueError, match="4 items"):
        unpack_x_y_sample_weight((x, y, w, w))
