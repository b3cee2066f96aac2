"""shendu.preprocessing.text against hand-derived tf.keras results.

Every expected value below was worked out by hand from tf.keras's rules (count words, sort by
count descending keeping first-seen order for ties, number from 1), not printed by the code.
"""
import json
import math
from collections import OrderedDict

import numpy as np
import pytest

from shendu.preprocessing.text import Tokenizer, text_to_word_sequence, tokenizer_from_json

ENGLISH = ["The cat sat on the mat.", "The dog ate my homework!", "My cat ate the fish?"]
# word_counts, in first-seen order: the 4, cat 2, sat 1, on 1, mat 1, dog 1, ate 2, my 2,
# homework 1, fish 1  ->  sorted (stable): the, cat, ate, my, sat, on, mat, dog, homework, fish
ENGLISH_INDEX = {"the": 1, "cat": 2, "ate": 3, "my": 4, "sat": 5, "on": 6, "mat": 7, "dog": 8,
                 "homework": 9, "fish": 10}
ENGLISH_SEQS = [[1, 2, 5, 6, 1, 7], [1, 8, 3, 4, 9], [4, 2, 3, 1, 10]]

CHINESE = ["我爱北京天安门", "天安门上太阳升"]
# chars: 我 爱 北 京 天 安 门 (1 each), then 天 安 门 again (2 each), 上 太 阳 升 (1 each)
CHINESE_INDEX = {"天": 1, "安": 2, "门": 3, "我": 4, "爱": 5, "北": 6, "京": 7, "上": 8,
                 "太": 9, "阳": 10, "升": 11}


def fitted(texts=ENGLISH, **kwargs):
    tok = Tokenizer(**kwargs)
    tok.fit_on_texts(texts)
    return tok


# ---------------------------------------------------------------- text_to_word_sequence
def test_text_to_word_sequence_filters_lower_and_empty_tokens():
    assert text_to_word_sequence("Hello, World!  Hello\tworld\n") == ["hello", "world", "hello", "world"]


def test_text_to_word_sequence_keeps_apostrophe():
    assert text_to_word_sequence("Don't STOP") == ["don't", "stop"]


def test_text_to_word_sequence_custom_split_turns_filters_into_split():
    # '.' and ',' are filters -> become ','; the space is no filter, so "a b" stays one token
    assert text_to_word_sequence("a b,c.d", split=",") == ["a b", "c", "d"]


def test_text_to_word_sequence_no_lower_and_custom_filters():
    assert text_to_word_sequence("Hi, There!", filters="!", lower=False) == ["Hi,", "There"]


def test_text_to_word_sequence_chinese_needs_spaces():
    # no spaces and full-width punctuation is not a default filter: one token
    assert text_to_word_sequence("我爱北京，天安门！") == ["我爱北京，天安门！"]
    assert text_to_word_sequence("我 爱 北京 天安门") == ["我", "爱", "北京", "天安门"]


# ---------------------------------------------------------------- fitting
def test_fit_builds_index_by_count_with_stable_ties():
    tok = fitted()
    assert tok.word_index == ENGLISH_INDEX
    assert tok.index_word == {i: w for w, i in ENGLISH_INDEX.items()}
    assert isinstance(tok.word_counts, OrderedDict)
    assert list(tok.word_counts.items()) == [
        ("the", 4), ("cat", 2), ("sat", 1), ("on", 1), ("mat", 1), ("dog", 1), ("ate", 2),
        ("my", 2), ("homework", 1), ("fish", 1)]
    assert dict(tok.word_docs) == {"the": 3, "cat": 2, "sat": 1, "on": 1, "mat": 1, "dog": 1,
                                   "ate": 2, "my": 2, "homework": 1, "fish": 1}
    assert dict(tok.index_docs) == {1: 3, 2: 2, 3: 2, 4: 2, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1}
    assert tok.document_count == 3


def test_num_words_does_not_shrink_word_index():
    assert fitted(num_words=3).word_index == ENGLISH_INDEX


def test_fit_twice_accumulates_and_resorts():
    tok = fitted(["b a"])
    assert tok.word_index == {"b": 1, "a": 2}
    tok.fit_on_texts(["a c"])
    assert tok.word_index == {"a": 1, "b": 2, "c": 3}
    assert tok.document_count == 2


def test_lower_false_keeps_case_distinct():
    tok = fitted(["The cat", "the Cat the"], lower=False)
    # counts: The 1, cat 1, the 2, Cat 1 -> the first, then first-seen order
    assert tok.word_index == {"the": 1, "The": 2, "cat": 3, "Cat": 4}
    assert tok.texts_to_sequences(["THE Cat"]) == [[4]]


def test_custom_filters_keep_punctuation_in_words():
    tok = fitted(["Hi, there! hi"], filters="")
    assert tok.word_index == {"hi,": 1, "there!": 2, "hi": 3}


def test_custom_split():
    tok = fitted(["red|green|red"], split="|")
    assert tok.word_index == {"red": 1, "green": 2}


def test_analyzer_replaces_filters_and_lower():
    tok = fitted(["A-b-A"], analyzer=lambda s: s.split("-"))
    assert tok.word_index == {"A": 1, "b": 2}


def test_lists_of_tokens_are_used_as_is_but_lowercased():
    tok = fitted([["Hello", "World"], ["hello", "a.b"]])
    assert tok.word_index == {"hello": 1, "world": 2, "a.b": 3}
    assert tok.texts_to_sequences([["WORLD", "hello"]]) == [[2, 1]]


def test_nb_words_legacy_alias_and_unknown_kwarg():
    with pytest.warns(UserWarning, match="num_words"):
        tok = Tokenizer(nb_words=3)
    assert tok.num_words == 3
    with pytest.raises(TypeError, match="num_wordz"):
        Tokenizer(num_wordz=3)


# ---------------------------------------------------------------- texts -> sequences
def test_texts_to_sequences_and_unknown_words_dropped():
    tok = fitted()
    assert tok.texts_to_sequences(ENGLISH) == ENGLISH_SEQS
    assert tok.texts_to_sequences(["the fish ate a bird"]) == [[1, 10, 3]]
    assert list(tok.texts_to_sequences_generator(ENGLISH)) == ENGLISH_SEQS


def test_num_words_keeps_indices_below_it():
    tok = fitted(num_words=4)  # keeps the(1), cat(2), ate(3): num_words - 1 words
    assert tok.texts_to_sequences(ENGLISH) == [[1, 2, 1], [1, 3], [2, 3, 1]]


def test_oov_token_takes_index_one_and_shifts_the_rest():
    tok = fitted(oov_token="<OOV>")
    assert tok.word_index == {"<OOV>": 1, **{w: i + 1 for w, i in ENGLISH_INDEX.items()}}
    assert tok.texts_to_sequences(["the fish ate a bird"]) == [[2, 11, 4, 1, 1]]


def test_oov_token_with_num_words_maps_cut_words_to_oov():
    tok = fitted(num_words=5, oov_token="<OOV>")  # keeps <OOV>, the, cat, ate
    assert tok.texts_to_sequences(ENGLISH) == [[2, 3, 1, 1, 2, 1], [2, 1, 4, 1, 1], [1, 3, 4, 2, 1]]


def test_char_level_chinese():
    tok = fitted(CHINESE, char_level=True)
    assert tok.word_index == CHINESE_INDEX
    assert tok.texts_to_sequences(CHINESE) == [[4, 5, 6, 7, 1, 2, 3], [1, 2, 3, 8, 9, 10, 11]]
    assert tok.texts_to_sequences(["北京太阳"]) == [[6, 7, 9, 10]]
    assert tok.sequences_to_texts([[6, 7]]) == ["北 京"]  # joined by a space, as tf.keras does


def test_char_level_ignores_filters_but_lowercases():
    # tf.keras feeds the raw string to the counter in char_level mode: spaces and
    # punctuation are tokens too, only lowercasing applies
    tok = fitted(["你好! Ab", "a"], char_level=True)
    assert tok.word_index == {"a": 1, "你": 2, "好": 3, "!": 4, " ": 5, "b": 6}
    assert tok.texts_to_sequences(["好A!"]) == [[3, 1, 4]]


def test_char_level_with_oov_and_num_words():
    # indices < 4 survive: ?(1), 天(2), 安(3); 门 is 4, so it becomes the oov index like 我
    tok = fitted(CHINESE, char_level=True, oov_token="?", num_words=4)
    assert tok.texts_to_sequences(["天安门我"]) == [[2, 3, 1, 1]]


# ---------------------------------------------------------------- sequences -> texts
def test_sequences_to_texts_drops_unknown_without_oov():
    tok = fitted()
    assert tok.sequences_to_texts(ENGLISH_SEQS) == [
        "the cat sat on the mat", "the dog ate my homework", "my cat ate the fish"]
    assert tok.sequences_to_texts([[1, 8, 3, 0, 42]]) == ["the dog ate"]
    assert list(tok.sequences_to_texts_generator([[2, 2]])) == ["cat cat"]


def test_sequences_to_texts_with_oov_and_num_words():
    tok = fitted(num_words=5, oov_token="<OOV>")
    assert tok.sequences_to_texts([[2, 3, 1, 1, 2, 1]]) == ["the cat <OOV> <OOV> the <OOV>"]
    # 9 (dog) is past num_words; 0 (padding) and 99 are unknown: all become the oov token
    assert tok.sequences_to_texts([[2, 9, 0, 99]]) == ["the <OOV> <OOV> <OOV>"]


def test_sequences_to_texts_num_words_without_oov_drops():
    tok = fitted(num_words=3)
    assert tok.sequences_to_texts([[1, 2, 3, 4]]) == ["the cat"]


# ---------------------------------------------------------------- matrices
def test_texts_to_matrix_binary():
    expected = [[0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0],
                [0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0],
                [0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]]
    x = fitted().texts_to_matrix(ENGLISH)  # default mode is binary
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, expected)


def test_texts_to_matrix_count():
    expected = [[0, 2, 1, 0, 0, 1, 1, 1, 0, 0, 0],
                [0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0],
                [0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1]]
    np.testing.assert_array_equal(fitted().texts_to_matrix(ENGLISH, mode="count"), expected)


def test_texts_to_matrix_freq():
    expected = [[0, 2 / 6, 1 / 6, 0, 0, 1 / 6, 1 / 6, 1 / 6, 0, 0, 0],
                [0, 1 / 5, 0, 1 / 5, 1 / 5, 0, 0, 0, 1 / 5, 1 / 5, 0],
                [0, 1 / 5, 1 / 5, 1 / 5, 1 / 5, 0, 0, 0, 0, 0, 1 / 5]]
    np.testing.assert_allclose(fitted().texts_to_matrix(ENGLISH, mode="freq"), expected)


def test_texts_to_matrix_tfidf():
    # 3 documents; idf = ln(1 + 3 / (1 + df)): df 3 -> ln 1.75, df 2 -> ln 2, df 1 -> ln 2.5
    l175, l2, l25 = math.log(1.75), math.log(2.0), math.log(2.5)
    expected = [[0, (1 + math.log(2)) * l175, l2, 0, 0, l25, l25, l25, 0, 0, 0],
                [0, l175, 0, l2, l2, 0, 0, 0, l25, l25, 0],
                [0, l175, l2, l2, l2, 0, 0, 0, 0, 0, l25]]
    np.testing.assert_allclose(fitted().texts_to_matrix(ENGLISH, mode="tfidf"), expected)


def test_texts_to_matrix_width_is_num_words():
    tok = fitted(num_words=4)
    np.testing.assert_array_equal(tok.texts_to_matrix(ENGLISH, mode="count"),
                                  [[0, 2, 1, 0], [0, 1, 0, 1], [0, 1, 1, 1]])


def test_texts_to_matrix_chinese_char_level():
    tok = fitted(CHINESE, char_level=True, num_words=6)
    np.testing.assert_array_equal(tok.texts_to_matrix(["门门我升"], mode="count"),
                                  [[0, 0, 0, 2, 1, 0]])


def test_sequences_to_matrix_freq_counts_ignored_indices_in_length():
    tok = Tokenizer(num_words=4)
    # 5, 6, 7 are past the width and skipped, yet still count in len(seq) = 6
    np.testing.assert_allclose(tok.sequences_to_matrix([[1, 2, 5, 6, 1, 7], []], mode="freq"),
                               [[0, 2 / 6, 1 / 6, 0], [0, 0, 0, 0]])


def test_fit_on_sequences_feeds_tfidf():
    tok = Tokenizer(num_words=4)
    tok.fit_on_sequences([[1, 2, 2], [2, 3]])
    assert tok.document_count == 2
    assert dict(tok.index_docs) == {1: 1, 2: 2, 3: 1}
    # index 2: c = 2, df = 2 -> (1 + ln 2) * ln(1 + 2/3);  index 3: c = 1, df = 1 -> ln 2
    np.testing.assert_allclose(tok.sequences_to_matrix([[2, 2, 3]], mode="tfidf"),
                               [[0, 0, (1 + math.log(2)) * math.log(5 / 3), math.log(2)]])


def test_tfidf_before_fit_explains_what_to_do():
    with pytest.raises(ValueError, match="fit_on_texts"):
        Tokenizer(num_words=5).texts_to_matrix(["a cat"], mode="tfidf")


def test_matrix_without_width_explains_what_to_do():
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer().sequences_to_matrix([[1, 2]])
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer().texts_to_matrix(["a cat"], mode="tfidf")


def test_unknown_matrix_mode():
    with pytest.raises(ValueError, match="tfidf"):
        fitted().texts_to_matrix(ENGLISH, mode="onehot")


# ---------------------------------------------------------------- serialization
def test_get_config_layout():
    config = fitted(num_words=5, oov_token="<OOV>").get_config()
    assert sorted(config) == sorted([
        "num_words", "filters", "lower", "split", "char_level", "oov_token", "document_count",
        "word_counts", "word_docs", "index_docs", "index_word", "word_index"])
    assert config["num_words"] == 5 and config["document_count"] == 3
    assert json.loads(config["index_word"])["1"] == "<OOV>"  # JSON keys are strings
    assert json.loads(config["word_index"])["the"] == 2


def test_json_round_trip_english():
    tok = fitted(num_words=5, oov_token="<OOV>")
    payload = tok.to_json()
    assert json.loads(payload)["class_name"] == "Tokenizer"
    restored = tokenizer_from_json(payload)
    assert restored.word_index == tok.word_index
    assert restored.index_word == tok.index_word  # int keys again
    assert list(restored.word_counts.items()) == list(tok.word_counts.items())
    assert dict(restored.word_docs) == dict(tok.word_docs)
    assert dict(restored.index_docs) == dict(tok.index_docs)
    assert (restored.num_words, restored.oov_token, restored.document_count) == (5, "<OOV>", 3)
    assert restored.texts_to_sequences(ENGLISH) == tok.texts_to_sequences(ENGLISH)
    np.testing.assert_allclose(restored.texts_to_matrix(ENGLISH, mode="tfidf"),
                               tok.texts_to_matrix(ENGLISH, mode="tfidf"))


def test_json_round_trip_chinese_char_level_and_refit():
    tok = fitted(CHINESE, char_level=True)
    restored = tokenizer_from_json(tok.to_json(ensure_ascii=False))
    assert restored.char_level is True
    assert restored.word_index == CHINESE_INDEX
    assert restored.texts_to_sequences(["天安门"]) == [[1, 2, 3]]
    restored.fit_on_texts(["天天"])  # still fittable after loading
    assert restored.word_index["天"] == 1 and restored.word_counts["天"] == 4
    assert restored.document_count == 3
