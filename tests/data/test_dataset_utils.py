"""keras.utils.text_dataset_from_directory and timeseries_dataset_from_array, checked against the
examples and rules of Keras's documentation (Keras 3 builds both with TensorFlow, absent here)."""
import numpy as np
import pytest

from shendu.data import Dataset
from shendu.keras import Input, Model, layers, utils


@pytest.fixture
def reviews(tmp_path):
    for label, texts in (("neg", ["bad plot", "dull", "awful film"]), ("pos", ["great", "fine acting", "loved it",
                                                                              "superb"])):
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "pos" / "notes.md").write_text("not a review")
    return tmp_path


def test_text_dataset_reads_one_class_per_folder(reviews, capsys):
    ds = utils.text_dataset_from_directory(reviews, batch_size=4, shuffle=False)
    assert "Found 7 files belonging to 2 classes." in capsys.readouterr().out
    assert isinstance(ds, Dataset) and ds.class_names == ["neg", "pos"]
    texts, labels = zip(*ds.as_numpy_iterator())
    assert [t.tolist() for t in texts] == [["bad plot", "dull", "awful film", "great"],
                                          ["fine acting", "loved it", "superb"]]
    assert labels[0].dtype == np.int32 and np.concatenate(labels).tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_text_dataset_label_modes_and_max_length(reviews):
    binary = next(iter(utils.text_dataset_from_directory(reviews, label_mode="binary", shuffle=False,
                                                         verbose=False).as_numpy_iterator()))
    assert binary[1].shape == (7, 1) and binary[1].dtype == np.float32
    categorical = next(iter(utils.text_dataset_from_directory(reviews, label_mode="categorical", shuffle=False,
                                                              verbose=False).as_numpy_iterator()))
    assert categorical[1].shape == (7, 2) and categorical[1][:, 1].tolist() == [0, 0, 0, 1, 1, 1, 1]
    only_texts = next(iter(utils.text_dataset_from_directory(reviews, labels=None, max_length=3, shuffle=False,
                                                             verbose=False).as_numpy_iterator()))
    assert only_texts.tolist()[:3] == ["bad", "dul", "awf"]
    with pytest.raises(ValueError, match="label_mode"):
        utils.text_dataset_from_directory(reviews, label_mode="sparse")


def test_text_dataset_splits_without_overlap(reviews):
    train, val = utils.text_dataset_from_directory(reviews, validation_split=0.3, subset="both", seed=7,
                                                   verbose=False)
    train_texts = [t for batch, _ in train.as_numpy_iterator() for t in batch.tolist()]
    val_texts = [t for batch, _ in val.as_numpy_iterator() for t in batch.tolist()]
    assert len(train_texts) == 5 and len(val_texts) == 2 and not set(train_texts) & set(val_texts)
    again = utils.text_dataset_from_directory(reviews, validation_split=0.3, subset="validation", seed=7,
                                              verbose=False)
    assert sorted(t for batch, _ in again.as_numpy_iterator() for t in batch.tolist()) == sorted(val_texts)
    with pytest.raises(ValueError, match="seed"):
        utils.text_dataset_from_directory(reviews, validation_split=0.3, subset="training")


def test_a_text_model_trains_on_the_folder(reviews):
    ds = utils.text_dataset_from_directory(reviews, batch_size=3, label_mode="binary", seed=0, verbose=False)
    vectorizer = layers.TextVectorization(max_tokens=20, output_sequence_length=3)
    vectorizer.adapt(ds.map(lambda text, label: text))
    inputs = Input(shape=(1,), dtype="string")
    h = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(vectorizer(inputs)))
    model = Model(inputs, layers.Dense(1, activation="sigmoid")(h))
    model.compile("adam", "binary_crossentropy")
    assert len(model.fit(ds, epochs=2, verbose=0).history["loss"]) == 2


def test_timeseries_windows_follow_keras_examples():
    steps = np.arange(100)
    # Keras's example 1: sequence_length=10, sampling_rate=2, sequence_stride=3
    ds = utils.timeseries_dataset_from_array(steps[:99], None, sequence_length=10, sampling_rate=2,
                                             sequence_stride=3, batch_size=None)
    sequences = [s.tolist() for s in ds.as_numpy_iterator()]
    assert sequences[0] == list(range(0, 20, 2)) and sequences[1] == list(range(3, 23, 2))
    assert sequences[-1] == list(range(78, 98, 2))
    # example 2: targets 10 steps ahead
    inputs, targets = next(iter(utils.timeseries_dataset_from_array(steps[:-10], steps[10:], sequence_length=10)))
    assert inputs.shape == (81, 10) and inputs[0].numpy().tolist() == list(range(10)) and int(targets[0]) == 10
    # example 3: non-overlapping windows over two series
    x = utils.timeseries_dataset_from_array(steps, None, sequence_length=20, sequence_stride=20)
    y = utils.timeseries_dataset_from_array(steps * 2, None, sequence_length=20, sequence_stride=20)
    for a, b in zip(x, y):
        assert a.shape == (5, 20) and b[1].numpy().tolist() == (steps * 2)[20:40].tolist()


def test_timeseries_start_end_shuffle_and_errors():
    data = np.arange(60).reshape(30, 2).astype("float32")
    ds = utils.timeseries_dataset_from_array(data, np.arange(30), sequence_length=4, start_index=5, end_index=20,
                                             batch_size=100)
    x, y = next(ds.as_numpy_iterator())
    assert x.shape == (12, 4, 2) and x[0, 0].tolist() == [10.0, 11.0] and y[0] == 5
    shuffled = utils.timeseries_dataset_from_array(data, np.arange(30), sequence_length=4, batch_size=5,
                                                   shuffle=True, seed=3)
    firsts = [t for _, ys in shuffled.as_numpy_iterator() for t in ys.tolist()]
    assert sorted(firsts) == list(range(27)) and firsts != list(range(27))
    for xs, ys in shuffled.as_numpy_iterator():
        assert (xs[:, 0, 0] == 2 * ys).all()                  # each window still starts at its target's step
    with pytest.raises(ValueError, match="sampling_rate"):
        utils.timeseries_dataset_from_array(data, None, 3, sampling_rate=0)
    with pytest.raises(ValueError, match="end_index"):
        utils.timeseries_dataset_from_array(data, None, 3, end_index=30)
