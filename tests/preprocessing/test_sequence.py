"""shendu.preprocessing.sequence against hand-derived tf.keras results."""
import math

import numpy as np
import pytest

from shendu.preprocessing import Tokenizer
from shendu.preprocessing.sequence import make_sampling_table, pad_sequences, skipgrams

SEQS = [[1], [2, 3], [4, 5, 6]]


def check(x, expected, dtype="int32"):
    assert x.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(x, expected)


# ---------------------------------------------------------------- pad_sequences
def test_pad_default_pre_to_longest():
    check(pad_sequences(SEQS), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])


def test_pad_post():
    check(pad_sequences(SEQS, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])


def test_pad_value():
    check(pad_sequences(SEQS, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])


def test_truncate_pre_keeps_the_end():
    check(pad_sequences(SEQS, maxlen=2), [[0, 1], [2, 3], [5, 6]])


def test_truncate_post_keeps_the_start():
    check(pad_sequences(SEQS, maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]])


def test_pad_post_truncate_post():
    check(pad_sequences(SEQS, maxlen=2, padding="post", truncating="post"), [[1, 0], [2, 3], [4, 5]])


def test_maxlen_longer_than_every_sequence():
    check(pad_sequences(SEQS, maxlen=5), [[0, 0, 0, 0, 1], [0, 0, 0, 2, 3], [0, 0, 4, 5, 6]])


def test_empty_sequences_become_all_padding():
    check(pad_sequences([[], [1, 2]]), [[0, 0], [1, 2]])
    check(pad_sequences([[], []], maxlen=3, value=7), [[7, 7, 7], [7, 7, 7]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)


def test_maxlen_zero_raises_instead_of_giving_empty_rows():
    # Keras 3 fails too (a broadcast error); an empty row is never what was meant
    with pytest.raises(ValueError, match="maxlen must be a positive integer"):
        pad_sequences(SEQS, maxlen=0)


def test_float_dtype_and_value():
    check(pad_sequences([[1.5], [2.25, 3.0]], dtype="float32", value=0.5),
          [[0.5, 1.5], [2.25, 3.0]], dtype="float32")


def test_int_dtype_truncates_floats():
    check(pad_sequences([[1.7, 2.2]]), [[1, 2]])


def test_numpy_and_tuple_inputs():
    check(pad_sequences((np.array([1, 2]), (3,))), [[1, 2], [0, 3]])
    check(pad_sequences(np.array([[1, 2, 3], [4, 5, 6]]), maxlen=2), [[2, 3], [5, 6]])


def test_generator_input():
    check(pad_sequences(([i] * i for i in range(1, 3))), [[0, 1], [2, 2]])


def test_sample_shape_from_trailing_dims():
    seqs = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    x = pad_sequences(seqs, maxlen=3, dtype="float32")
    assert x.shape == (2, 3, 3)
    check(x, [[[0, 0, 0], [1, 1, 1], [1, 1, 1]],
              [[0, 0, 0], [0, 0, 0], [2, 2, 2]]], dtype="float32")


def test_sample_shape_post_with_empty_first():
    x = pad_sequences([[], [[1, 2], [3, 4], [5, 6]]], maxlen=2, padding="post")
    check(x, [[[0, 0], [0, 0]], [[3, 4], [5, 6]]])


def test_inconsistent_sample_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_strings_with_object_dtype():
    x = pad_sequences([["hello", "world"], ["hi"]], dtype=object, value="<pad>")
    assert x.dtype == object
    assert x.tolist() == [["hello", "world"], ["<pad>", "hi"]]


def test_strings_with_unicode_dtype():
    x = pad_sequences([["我", "爱"], ["你"]], dtype="<U5", value="", padding="post")
    assert x.tolist() == [["我", "爱"], ["你", ""]]


def test_string_value_with_int_dtype_raises():
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="<pad>")


@pytest.mark.parametrize("kwargs", [{"padding": "start"}, {"truncating": "end"}])
def test_invalid_side_names_the_valid_ones(kwargs):
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        pad_sequences(SEQS, **kwargs)


def test_invalid_side_raises_even_without_padding_work():
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        pad_sequences([], padding="left")


def test_non_iterable_input_raises():
    with pytest.raises(ValueError, match="list of sequences"):
        pad_sequences(5)
    with pytest.raises(ValueError, match=r"pad_sequences\(\[seq\]\)"):
        pad_sequences([1, 2, 3])


def test_tokenizer_then_pad():
    tok = Tokenizer(num_words=10, oov_token="<OOV>")
    tok.fit_on_texts(["我 爱 北京", "北京 欢迎 你"])  # <OOV> 1, 北京 2, 我 3, 爱 4, 欢迎 5, 你 6
    seqs = tok.texts_to_sequences(["我 爱 你", "北京", "他 爱 北京 欢迎 你"])
    assert seqs == [[3, 4, 6], [2], [1, 4, 2, 5, 6]]
    check(pad_sequences(seqs, maxlen=4, padding="post"),
          [[3, 4, 6, 0], [2, 0, 0, 0], [4, 2, 5, 6]])


# ---------------------------------------------------------------- sampling table, skipgrams
def test_make_sampling_table():
    # rank = [1, 1, 2]; 1/freq(1) = 0.577 + 0.5 - 1/12; 1/freq(2) = 2 (ln 2 + 0.577) + 0.5 - 1/24
    p1 = math.sqrt(0.577 + 0.5 - 1 / 12)
    assert 2 * (math.log(2) + 0.577) + 0.5 - 1 / 24 > 1  # so its probability clips to 1
    np.testing.assert_allclose(make_sampling_table(3, sampling_factor=1.0), [p1, p1, 1.0])
    np.testing.assert_allclose(make_sampling_table(2), [math.sqrt(1e-5 * (1.077 - 1 / 12))] * 2)


def test_skipgrams_positive_pairs_skip_padding():
    couples, labels = skipgrams([1, 2, 0, 3], vocabulary_size=4, window_size=1,
                                negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1]]
    assert labels == [1, 1]
    couples, labels = skipgrams([1, 2, 3], 4, window_size=1, negative_samples=0, shuffle=False,
                                categorical=True)
    assert couples == [[1, 2], [2, 1], [2, 3], [3, 2]]
    assert labels == [[0, 1]] * 4


def test_skipgrams_negatives_are_seeded_and_paired():
    run = skipgrams([1, 2, 3], 5, window_size=1, negative_samples=1.0, seed=7)
    assert run == skipgrams([1, 2, 3], 5, window_size=1, negative_samples=1.0, seed=7)
    couples, labels = run
    assert len(couples) == 8 and sorted(labels) == [0] * 4 + [1] * 4
    positives = sorted(c for c, y in zip(couples, labels) if y == 1)
    assert positives == [[1, 2], [2, 1], [2, 3], [3, 2]]
    assert all(1 <= c[1] <= 4 for c, y in zip(couples, labels) if y == 0)
