"""shendu/layers/text_vectorization.py: TextVectorization against hand-derived Keras 3 results.

Keras's TextVectorization needs TensorFlow, which is not a dependency here, so every expected
vocabulary and output below is worked out by hand from Keras's documented rules:
- vocabulary: ['', '[UNK]'] (int mode) or ['[UNK]'] (other modes), then tokens by count, high to
  low, ties by the token itself, high to low (code-point order: 'sat' > 'on', 'dog?' > 'dog.' > 'dog');
- 'lower' changes ASCII letters only; punctuation is ASCII only; whitespace is ASCII only;
- idf = log(1 + documents / (1 + documents containing the token)); the OOV slot gets the mean idf.
"""
from __future__ import annotations

import numpy as np
import pytest

import shendu as sd
from shendu import layers
from shendu.layers.symbolic import KerasTensor
from shendu.layers.text_vectorization import make_ngrams, split_whitespace
from shendu.tensor import Tensor

TV = layers.TextVectorization

EN = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a DOG? It's the dog."]
# lower_and_strip_punctuation: "the cat sat on the mat" / "the dog ate my homework" / "a cat a dog its the dog"
# counts: the 4, dog 3, cat 2, a 2, every other word 1
EN_VOCAB = ["", "[UNK]", "the", "dog", "cat", "a", "sat", "on", "my", "mat", "its", "homework", "ate"]
EN_IDS = [[2, 4, 6, 7, 2, 9, 0],
          [2, 3, 12, 8, 11, 0, 0],
          [5, 4, 5, 3, 10, 2, 3]]

ZH = ["我爱机器学习。", "我爱深度学习！", "机器 学习，很有趣"]
# characters: 学 习 x3; 爱 机 我 器 x2 (by code point 7231 > 673A > 6211 > 5668); the rest once, full-width
# punctuation (FF0C, FF01) above the CJK characters and the space (0020) last; Chinese punctuation is kept
ZH_CHAR_VOCAB = ["", "[UNK]", "学", "习", "爱", "机", "我", "器", "，", "！", "趣", "深", "有", "很", "度", "。", " "]
ZH_CHAR_IDS = [[6, 4, 5, 7, 2, 3, 15, 0, 0],
               [6, 4, 11, 14, 2, 3, 9, 0, 0],
               [5, 7, 16, 2, 3, 8, 13, 12, 10]]


def ids(x) -> np.ndarray:
    assert isinstance(x, Tensor) and not x.requires_grad
    return x.numpy()


def adapted(texts, **kwargs):
    layer = TV(**kwargs)
    layer.adapt(texts)
    return layer


# ---------------------------------------------------------------- standardize x split, int mode

@pytest.mark.parametrize("standardize,vocabulary", [
    ("lower_and_strip_punctuation", EN_VOCAB),
    ("lower", ["", "[UNK]", "the", "a", "sat", "on", "my", "mat.", "it's", "homework!", "dog?", "dog.", "dog",
               "cat,", "cat", "ate"]),
    ("strip_punctuation", ["", "[UNK]", "the", "dog", "cat", "The", "sat", "on", "my", "mat", "homework", "ate",
                           "a", "Its", "DOG", "A"]),
    (None, ["", "[UNK]", "the", "The", "sat", "on", "my", "mat.", "homework!", "dog.", "dog", "cat,", "cat", "ate",
            "a", "It's", "DOG?", "A"]),
], ids=["lower_and_strip", "lower", "strip", "none"])
def test_adapt_vocabulary_per_standardize(standardize, vocabulary):
    layer = adapted(EN, standardize=standardize)
    assert layer.get_vocabulary() == vocabulary
    assert layer.get_vocabulary(include_special_tokens=False) == vocabulary[2:]
    assert layer.vocabulary_size() == len(vocabulary)


def test_int_output_pads_to_longest_in_batch():
    layer = adapted(EN)
    out = layer(EN)
    assert out.dtype == np.int64 and out.shape == (3, 7)
    np.testing.assert_array_equal(ids(out), EN_IDS)
    np.testing.assert_array_equal(ids(layer(["the bird sat"])), [[2, 1, 6]])    # unseen word -> 1


def test_strip_punctuation_keeps_case_and_lower_keeps_punctuation():
    np.testing.assert_array_equal(ids(adapted(EN, standardize="strip_punctuation")(["The DOG dog."])), [[5, 14, 3]])
    np.testing.assert_array_equal(ids(adapted(EN, standardize="lower")(["The DOG dog."])), [[2, 12, 11]])


def test_lower_changes_ascii_letters_only():
    layer = adapted(["ÉCOLE École"], standardize="lower")      # TensorFlow's lower() without an encoding
    assert layer.get_vocabulary() == ["", "[UNK]", "École"]


def test_inputs_batch_by_one_column_and_numpy_and_bytes():
    layer = adapted(np.array(EN))
    np.testing.assert_array_equal(ids(layer(np.array([[s] for s in EN]))), EN_IDS)
    np.testing.assert_array_equal(ids(layer([[s] for s in EN])), EN_IDS)
    np.testing.assert_array_equal(ids(layer([b"the cat", "a dog"])), [[2, 4], [5, 3]])
    np.testing.assert_array_equal(ids(layer("the cat")), [2, 4])                 # one string: one sequence


def test_split_none_looks_up_whole_strings():
    layer = adapted(EN, split=None)
    assert layer.get_vocabulary() == ["", "[UNK]", "the dog ate my homework", "the cat sat on the mat",
                                      "a cat a dog its the dog"]
    np.testing.assert_array_equal(ids(layer(EN)), [3, 2, 4])                     # element-wise: shape kept
    np.testing.assert_array_equal(ids(layer([[s] for s in EN] + [["Other"]])), [[3], [2], [4], [1]])
    np.testing.assert_array_equal(ids(layer([""])), [0])                         # '' is the padding token


def test_split_character_english():
    layer = adapted(["ab ba", "Abc!"], split="character")                       # a 3, b 3, c 1, ' ' 1
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a", "c", " "]
    np.testing.assert_array_equal(ids(layer(["cab d"])), [[4, 3, 2, 5, 1]])


def test_split_character_chinese():
    layer = adapted(ZH, split="character")
    assert layer.get_vocabulary() == ZH_CHAR_VOCAB
    np.testing.assert_array_equal(ids(layer(ZH)), ZH_CHAR_IDS)
    np.testing.assert_array_equal(ids(layer(["我爱中文"])), [[6, 4, 1, 1]])


def test_split_whitespace_chinese_keeps_phrases():
    layer = adapted(ZH)
    assert layer.get_vocabulary() == ["", "[UNK]", "机器", "我爱深度学习！", "我爱机器学习。", "学习，很有趣"]
    np.testing.assert_array_equal(ids(layer(["机器 学习"])), [[2, 1]])


def test_whitespace_is_ascii_only():
    assert split_whitespace("  机器\u3000学习 a\tb\n c\xa0d ") == ["机器\u3000学习", "a", "b", "c\xa0d"]
    assert split_whitespace("   ") == []
    assert split_whitespace("a\x1cb c") == ["a\x1cb", "c"]          # str.split() would cut at \x1c too


# ---------------------------------------------------------------- max_tokens, output_sequence_length, ngrams

def test_max_tokens_counts_special_entries():
    layer = adapted(EN, max_tokens=5)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "dog", "cat"]
    np.testing.assert_array_equal(ids(layer([EN[2]])), [[1, 4, 1, 3, 1, 2, 3]])
    # outside int mode there is no padding entry: one more learned token fits
    assert adapted(EN, max_tokens=5, output_mode="multi_hot").get_vocabulary() == ["[UNK]", "the", "dog", "cat", "a"]


@pytest.mark.parametrize("length,expected", [
    (4, [[2, 4, 6, 7], [2, 3, 12, 8], [5, 4, 5, 3]]),
    (9, [row + [0, 0] for row in EN_IDS]),
], ids=["truncate", "pad"])
def test_output_sequence_length(length, expected):
    out = adapted(EN, output_sequence_length=length)(EN)
    assert out.shape == (3, length)
    np.testing.assert_array_equal(ids(out), expected)


def test_output_sequence_length_with_split_none():
    layer = TV(split=None, vocabulary=["foo", "baz"], output_sequence_length=3)
    np.testing.assert_array_equal(ids(layer([["foo"], ["baz"]])), [[2, 0, 0], [3, 0, 0]])


def test_ngrams_up_to_two():
    layer = adapted(["a b c", "b c"], ngrams=2)      # b, c, 'b c' twice; 'a', 'a b' once
    assert layer.get_vocabulary() == ["", "[UNK]", "c", "b c", "b", "a b", "a"]
    np.testing.assert_array_equal(ids(layer(["a b c"])), [[6, 4, 2, 5, 3]])      # 1-grams, then 2-grams


def test_ngrams_tuple_and_order():
    assert make_ngrams(["a", "b", "c"], (1, 3)) == ["a", "b", "c", "a b c"]
    assert make_ngrams(["a", "b", "c"], (2, 1)) == ["a b", "b c", "a", "b", "c"]
    assert make_ngrams(["a"], (2,)) == []
    layer = adapted(["a b c"], ngrams=(1, 3))
    assert layer.get_vocabulary() == ["", "[UNK]", "c", "b", "a b c", "a"]
    assert ids(layer(["a"])).tolist() == [[5]]


def test_ngrams_on_chinese_characters():
    layer = adapted(["学习学习"], split="character", ngrams=(2,))   # n-grams are joined by a space, even here
    assert layer.get_vocabulary() == ["", "[UNK]", "学 习", "习 学"]
    np.testing.assert_array_equal(ids(layer(["学习", "机器"])), [[2], [1]])


# ---------------------------------------------------------------- multi_hot, count, tf_idf, one_hot

EN_BAG = ["the cat the bird", "a dog"]       # bag vocabulary: [UNK] 0, the 1, dog 2, cat 3, a 4, ... 12 entries


def test_multi_hot_and_count():
    multi = adapted(EN, output_mode="multi_hot")
    assert multi.get_vocabulary() == ["[UNK]"] + EN_VOCAB[2:]
    assert multi.vocabulary_size() == 12
    expected = np.zeros((2, 12), np.float32)
    expected[0, [0, 1, 3]] = 1
    expected[1, [2, 4]] = 1
    out = multi(EN_BAG)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(ids(out), expected)
    expected[0, 1] = 2                                # 'the' twice
    np.testing.assert_array_equal(ids(adapted(EN, output_mode="count")(EN_BAG)), expected)


def test_binary_is_multi_hot():
    assert TV(output_mode="binary").output_mode == "multi_hot"
    assert TV(output_mode="tf-idf").output_mode == "tf_idf"


def test_tf_idf_adapted():
    layer = adapted(EN, output_mode="tf_idf")
    # 3 documents: 'the' in 3, 'dog' and 'cat' in 2, every other word in 1
    idf = np.log(1 + 3 / (1 + np.array([3, 2, 2] + [1] * 8)))
    oov = idf.astype(np.float32).mean()
    expected = np.zeros((2, 12))
    expected[0, 0], expected[0, 1], expected[0, 3] = oov, 2 * idf[0], idf[2]
    expected[1, 2], expected[1, 4] = idf[1], idf[3]
    np.testing.assert_allclose(ids(layer(EN_BAG)), expected, rtol=1e-6)


def test_tf_idf_given_weights_average_for_oov():
    layer = TV(output_mode="tf_idf", vocabulary=["foo", "bar", "baz"], idf_weights=[0.3, 0.5, 0.2])
    np.testing.assert_allclose(ids(layer(["foo bar", "baz foo foo qux"])),
                               [[0, 0.3, 0.5, 0], [1 / 3, 0.6, 0, 0.2]], rtol=1e-6)


def test_pad_to_max_tokens():
    layer = TV(output_mode="multi_hot", vocabulary=["foo", "bar"], max_tokens=8, pad_to_max_tokens=True)
    np.testing.assert_array_equal(ids(layer(["foo bar"])), [[0, 1, 1, 0, 0, 0, 0, 0]])
    tfidf = adapted(["a b", "a"], output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    idf = np.log(1 + 2 / (1 + np.array([2.0, 1.0])))
    np.testing.assert_allclose(ids(tfidf(["a b z"])), [[idf.mean(), idf[0], idf[1], 0, 0, 0]], rtol=1e-6)


def test_bag_modes_on_chinese_characters():
    layer = adapted(ZH, split="character", output_mode="count")
    out = ids(layer(["学习学习很好"]))
    assert out.shape == (1, 16)
    assert out[0, 0] == 1 and out[0, 1] == 2 and out[0, 2] == 2 and out[0, 12] == 1      # 好 is OOV; 很 index 12
    assert out.sum() == 6


def test_one_hot_with_split_none():
    layer = TV(output_mode="one_hot", split=None, vocabulary=["a", "b"])
    np.testing.assert_array_equal(ids(layer(["b", "z", "A"])), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match="one token per example"):
        TV(output_mode="one_hot", vocabulary=["a", "b"])(["a b"])


# ---------------------------------------------------------------- vocabulary API, adapt sources

def test_set_vocabulary_with_and_without_special_tokens():
    layer = TV(output_sequence_length=3)
    layer.set_vocabulary(["earth", "wind", "and", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    layer.set_vocabulary(["", "[UNK]", "wind", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "wind", "fire"]
    np.testing.assert_array_equal(ids(layer(["Fire, wind & earth"])), [[3, 2, 1]])
    bag = TV(output_mode="count", vocabulary=["[UNK]", "x"])
    assert bag.get_vocabulary() == ["[UNK]", "x"]
    tfidf = TV(output_mode="tf_idf", vocabulary=["[UNK]", "x"], idf_weights=[0.9, 0.4])
    np.testing.assert_allclose(ids(tfidf(["x y x"])), [[0.9, 0.8]], rtol=1e-6)


def test_set_vocabulary_replaces_adapted_and_adapt_restarts():
    layer = adapted(EN)
    layer.set_vocabulary(["x"])
    assert layer.get_vocabulary() == ["", "[UNK]", "x"]
    layer.adapt(["b b a"])
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a"]


def test_vocabulary_from_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("foo\nbar\n学习\n", encoding="utf-8")
    layer = TV(vocabulary=str(path))
    np.testing.assert_array_equal(ids(layer(["foo bar 学习 unknown"])), [[2, 3, 4, 1]])
    assert layer.get_config()["vocabulary"] is None                # a path is not kept in the config


def test_adapt_from_batches_with_steps():
    def batches():
        yield ["a a"]
        yield np.array([["b"]])
        yield ["c c c"]
    layer = TV()
    layer.adapt(batches(), steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b"]
    assert adapted(batches()).get_vocabulary() == ["", "[UNK]", "c", "a", "b"]
    assert adapted(iter(["x y", "y"])).get_vocabulary() == ["", "[UNK]", "y", "x"]   # single texts


def test_callable_standardize_and_split():
    layer = TV(standardize=lambda x: np.char.replace(np.char.lower(x), "-", "|"),
               split=lambda x: [s.split("|") for s in x])
    layer.adapt(["Foo-Bar", "foo"])
    assert layer.get_vocabulary() == ["", "[UNK]", "foo", "bar"]
    np.testing.assert_array_equal(ids(layer(["BAR-foo-baz"])), [[3, 2, 1]])


def test_ids_feed_an_embedding():
    layer = adapted(ZH, split="character", output_sequence_length=6)
    x = layer(ZH)
    emb = layers.Embedding(layer.vocabulary_size(), 4, mask_zero=True)
    assert emb(x).shape == (3, 6, 4)


# ---------------------------------------------------------------- config

KERAS_KEYS = {"name", "trainable", "dtype", "max_tokens", "standardize", "split", "ngrams", "output_mode",
              "output_sequence_length", "pad_to_max_tokens", "sparse", "ragged", "vocabulary", "idf_weights",
              "encoding", "vocabulary_size"}


def test_config_round_trip_with_vocabulary():
    layer = TV(max_tokens=10, standardize="lower", split="character", ngrams=(1, 2), output_sequence_length=5,
               vocabulary=np.array(["a", "b", "a b"]))
    config = layer.get_config()
    assert set(config) >= KERAS_KEYS
    assert config["vocabulary"] == ["a", "b", "a b"] and config["vocabulary_size"] == 5
    assert config["ngrams"] == (1, 2) and config["idf_weights"] is None
    config["ngrams"] = list(config["ngrams"])                      # as JSON gives it back
    clone = TV.from_config(config)
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(ids(clone(["ab"])), ids(layer(["ab"])))


def test_config_of_adapted_layer_has_no_vocabulary():
    layer = adapted(EN, output_mode="tf_idf", pad_to_max_tokens=True, max_tokens=20)
    config = layer.get_config()
    assert config["vocabulary"] is None and config["vocabulary_size"] == 12
    clone = TV.from_config(config)
    assert clone.output_mode == "tf_idf" and clone.max_tokens == 20 and clone.pad_to_max_tokens
    with pytest.raises(RuntimeError, match="adapt"):
        clone(EN)


def test_keras_layers_namespace():
    from shendu.keras import layers as keras_layers
    assert keras_layers.TextVectorization is TV


# ---------------------------------------------------------------- errors that teach

@pytest.mark.parametrize("kwargs,match", [
    ({"standardize": "upper"}, "standardize"),
    ({"split": "comma"}, "split"),
    ({"output_mode": "ints"}, "output_mode"),
    ({"ngrams": "2"}, "ngrams"),
    ({"ngrams": 0}, "ngrams"),
    ({"output_mode": "multi_hot", "output_sequence_length": 4}, "output_sequence_length"),
    ({"output_sequence_length": 2.5}, "output_sequence_length"),
    ({"max_tokens": 1}, "max_tokens"),
    ({"pad_to_max_tokens": True}, "max_tokens"),
    ({"sparse": True}, "TensorFlow"),
    ({"ragged": True}, "TensorFlow"),
    ({"idf_weights": [1.0]}, "tf_idf"),
    ({"output_mode": "tf_idf", "vocabulary": ["a"]}, "idf_weights"),
], ids=lambda v: str(v) if isinstance(v, str) else None)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TV(**kwargs)


def test_bad_vocabularies():
    with pytest.raises(ValueError, match="repeats"):
        TV(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="padding token"):
        TV(vocabulary=["a", ""])
    with pytest.raises(ValueError, match="max_tokens"):
        TV(vocabulary=["a", "b", "c"], max_tokens=4)
    with pytest.raises(ValueError, match="empty"):
        TV().set_vocabulary([])
    with pytest.raises(ValueError, match="as long as"):
        TV(output_mode="tf_idf", vocabulary=["a", "b"], idf_weights=[1.0])


def test_call_before_vocabulary_teaches():
    with pytest.raises(RuntimeError, match=r"adapt\(texts\)"):
        TV()(["hello"])


def test_bad_inputs():
    layer = adapted(EN)
    with pytest.raises(TypeError, match="single string"):
        TV().adapt("the cat sat")
    with pytest.raises(ValueError, match="static vocabulary"):
        TV(vocabulary=["a"]).adapt(["a b"])
    with pytest.raises(ValueError, match="no tokens"):
        TV().adapt(["...", ""])
    with pytest.raises(ValueError, match=r"\(batch, 1\)"):
        layer([["the cat", "a dog"]])
    with pytest.raises(TypeError, match="integer ids"):
        layer(np.array([[1, 2]]))
    with pytest.raises(TypeError, match="needs a string input"):
        layer(KerasTensor((None, 1), "float32", None))
    assert layer(KerasTensor((None, 1), "string", None)).shape == (None, None)


def test_empty_batch_and_all_padding():
    layer = adapted(EN)
    assert ids(layer([])).shape == (0, 0)
    np.testing.assert_array_equal(ids(layer(["...", "  "])), np.zeros((2, 0)))
    np.testing.assert_array_equal(ids(adapted(EN, output_sequence_length=2)(["..."])), [[0, 0]])
    assert sd.Tensor is Tensor
