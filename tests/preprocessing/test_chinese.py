"""Chinese text: tf.keras 2's outputs stay the default; character-level text round-trips exactly with
join=""; TextVectorization splits mixed Chinese and English with split="cjk" and Chinese words with
split="jieba"."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from shendu.keras.layers import TextVectorization
from shendu.keras.preprocessing.text import Tokenizer
from shendu.preprocessing.chinese import segment_words, split_cjk

SENTENCES = ["我喜欢深度学习", "深度学习很有趣！", "我不喜欢下雨天。"]


def test_char_level_default_joins_with_spaces_as_tf_keras_2():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(SENTENCES)
    seqs = tok.texts_to_sequences(SENTENCES)
    assert tok.sequences_to_texts(seqs)[0] == "我 喜 欢 深 度 学 习"      # tf.keras 2's output, unchanged


def test_char_level_round_trips_exactly_with_join_empty():
    tok = Tokenizer(char_level=True, lower=False)
    tok.fit_on_texts(SENTENCES + ["Deep Learning 深度学习 2024"])
    texts = SENTENCES + ["Deep Learning 深度学习 2024"]
    assert tok.sequences_to_texts(tok.texts_to_sequences(texts), join="") == texts
    assert list(tok.sequences_to_texts_generator(tok.texts_to_sequences(texts[:1]), join="")) == texts[:1]


def test_word_mode_treats_an_unsegmented_sentence_as_one_token_as_tf_keras_2():
    tok = Tokenizer()
    tok.fit_on_texts(SENTENCES)
    assert "我喜欢深度学习" in tok.word_index


def test_fitting_on_one_string_warns_that_it_is_read_character_by_character():
    tok = Tokenizer()
    with pytest.warns(UserWarning, match=r"one string.*fit_on_texts\(\[text\]\)"):
        tok.fit_on_texts("我喜欢深度学习")


def test_split_cjk_keeps_latin_words_and_drops_whitespace():
    assert split_cjk("我爱NLP和深度学习! GPU 2024年") == ["我", "爱", "NLP", "和", "深", "度", "学", "习", "!", "GPU",
                                                         "2024", "年"]
    assert split_cjk("  ") == []


def test_text_vectorization_cjk_split_on_mixed_text():
    layer = TextVectorization(split="cjk", standardize="lower")
    layer.adapt(["我爱NLP", "NLP很有趣", "我爱深度学习"])
    vocab = layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"] and "nlp" in vocab and "爱" in vocab and " " not in vocab
    out = np.asarray(layer(np.array(["我爱nlp"])))
    assert out.tolist() == [[vocab.index("我"), vocab.index("爱"), vocab.index("nlp")]]
    clone = TextVectorization.from_config(layer.get_config())
    assert clone.split == "cjk"


def test_character_split_still_matches_keras_with_spaces_as_tokens():
    layer = TextVectorization(split="character", standardize=None)
    layer.adapt(["a b"])
    assert " " in layer.get_vocabulary()


def test_unknown_split_names_the_valid_ones():
    with pytest.raises(ValueError, match="cjk"):
        TextVectorization(split="chars")


@pytest.mark.skipif(importlib.util.find_spec("jieba") is None, reason="jieba (the 'zh' extra) is not installed")
def test_word_level_chinese_with_jieba():
    assert segment_words("我喜欢深度学习") == ["我", "喜欢", "深度", "学习"]
    tok = Tokenizer(analyzer=segment_words)
    tok.fit_on_texts(SENTENCES)
    assert {"喜欢", "深度", "学习"} <= set(tok.word_index)
    layer = TextVectorization(split="jieba", standardize=None)
    layer.adapt(SENTENCES)
    assert "学习" in layer.get_vocabulary()
