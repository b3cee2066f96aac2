"""Splitting Chinese text, which has no spaces between words.

tf.keras's ``Tokenizer`` and ``TextVectorization`` split on whitespace, so an unsegmented Chinese
sentence becomes one token. Two ways out, both usable with either class:

- characters: ``split_cjk("我爱NLP和深度学习!")`` -> ``["我", "爱", "NLP", "和", "深", "度", "学", "习", "!"]``:
  each CJK character is a token, runs of Latin letters and digits stay words, whitespace is dropped,
  and every other symbol is its own token. ``TextVectorization(split="cjk")`` uses it.
- words: ``segment_words("我喜欢深度学习")`` -> ``["我", "喜欢", "深度", "学习"]`` with the jieba segmenter
  (the ``zh`` extra: ``pip install 'shendu[zh]'``), imported on first use. ``TextVectorization(split="jieba")``
  and ``Tokenizer(analyzer=segment_words)`` use it.
"""
from __future__ import annotations

import re

# the CJK blocks: unified ideographs (and extension A), compatibility ideographs, kana, hangul
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_CJK_TOKENS = re.compile(rf"[{_CJK}]|[^\W{_CJK}_]+|[^\s\w]|_", flags=re.UNICODE)


def split_cjk(text: str) -> list[str]:
    """One token per CJK character, one per run of other letters/digits, one per symbol; no whitespace."""
    return _CJK_TOKENS.findall(text)


def _jieba():
    try:
        import jieba                                   # optional (the 'zh' extra): imported on first use
    except ImportError:
        raise ImportError("Chinese word segmentation uses jieba: pip install 'shendu[zh]' (or pip install jieba). "
                          "Without it, split Chinese into characters: TextVectorization(split='cjk') or "
                          "Tokenizer(char_level=True).") from None
    jieba.setLogLevel(60)                              # no "Building prefix dict" chatter on stderr
    return jieba


def segment_words(text: str) -> list[str]:
    """Chinese words by jieba's default (accurate) mode, whitespace dropped."""
    return [w for w in _jieba().cut(text) if w.strip()]
