"""Legacy tf.keras text preprocessing: `Tokenizer`, `text_to_word_sequence`, `tokenizer_from_json`.

Tutorials written for `tf.keras.preprocessing.text` run unchanged against this module, so every
rule below follows tf.keras exactly, including the surprising ones (they are called out where
they happen). Outputs are plain Python lists and NumPy arrays: this is data loading, not a graph.
"""
from __future__ import annotations

import json
import warnings
from collections import OrderedDict, defaultdict
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MATRIX_MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(input_text: str, filters: str = DEFAULT_FILTERS, lower: bool = True,
                          split: str = " ") -> list[str]:
    """Lowercase, turn every filter character into `split`, split on `split`, drop empty tokens.

    The apostrophe is not a default filter, so "don't" stays one word. Non-ASCII punctuation
    (e.g. Chinese "，") is not filtered either; add it to `filters` if you need it gone.

    Example: text_to_word_sequence("Hello, World!") == ["hello", "world"]
    """
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [token for token in input_text.split(split) if token]


class Tokenizer:
    """Maps words (or characters) to integer indices by frequency, as tf.keras's legacy Tokenizer.

    Index 0 is never assigned: it is reserved for padding. `fit_on_texts` indexes EVERY word,
    most frequent first (ties keep first-seen order); `num_words` only acts later, when texts
    become sequences or matrices, keeping indices below `num_words` (so `num_words - 1` words).

    Args:
        num_words: keep only indices < num_words when converting; None keeps all.
        filters: characters replaced by `split` before splitting (ignored when char_level=True,
            as in tf.keras: every character, spaces and punctuation included, is a token).
        lower: lowercase texts first.
        split: the word separator.
        char_level: treat every character as a token (works for Chinese without segmentation).
        oov_token: if set, it gets index 1 and stands for unknown and cut-off words.
        analyzer: optional callable str -> tokens that replaces filters/lower/split entirely; for
            word-level Chinese, ``shendu.preprocessing.chinese.segment_words`` (jieba).
        document_count: starting count of seen documents (used when restoring from JSON).

    Example:
        tok = Tokenizer(num_words=100, oov_token="<OOV>")
        tok.fit_on_texts(["The cat sat.", "The dog ran."])
        tok.texts_to_sequences(["the cat ran away"])  # [[2, 3, 6, 1]]
    """

    def __init__(self, num_words: int | None = None, filters: str = DEFAULT_FILTERS,
                 lower: bool = True, split: str = " ", char_level: bool = False,
                 oov_token: str | None = None, analyzer: Callable[[str], Iterable[str]] | None = None,
                 document_count: int = 0, **kwargs):
        if "nb_words" in kwargs:  # the Keras 1 spelling, still seen in old tutorials
            warnings.warn("The `nb_words` argument of Tokenizer has been renamed `num_words`.",
                          stacklevel=2)
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise TypeError(f"Tokenizer got unrecognized keyword arguments {sorted(kwargs)}; "
                            "valid ones are num_words, filters, lower, split, char_level, "
                            "oov_token, analyzer, document_count.")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts: OrderedDict[str, int] = OrderedDict()  # word -> total occurrences
        self.word_docs: defaultdict[str, int] = defaultdict(int)  # word -> documents containing it
        self.index_docs: defaultdict[int, int] = defaultdict(int)  # index -> documents containing it
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    # ------------------------------------------------------------------ tokens
    def _tokens(self, text) -> Sequence[str]:
        """One text -> its tokens. A list is taken as already tokenized (only lowercased)."""
        if isinstance(text, list):
            return [t.lower() for t in text] if self.lower else text
        if self.char_level:
            # tf.keras applies neither filters nor split here: the string itself is the sequence
            return text.lower() if self.lower else text
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    # ------------------------------------------------------------------ fitting
    def fit_on_texts(self, texts: Iterable[str | list[str]]) -> None:
        """Count words over `texts` (strings, or lists of tokens) and rebuild the word index.

        Calling it again adds to the counts, then re-sorts every word from scratch.
        """
        if isinstance(texts, str):
            warnings.warn(f"Tokenizer.fit_on_texts got one string ({texts[:30]!r}...), not a list of texts: it reads "
                          "it as a sequence of one-character texts. Pass a list, e.g. fit_on_texts([text]).",
                          stacklevel=2)
        for text in texts:
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        # sorted() is stable, so words with equal counts keep the order they were first seen
        by_count = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)
        vocab = [] if self.oov_token is None else [self.oov_token]
        vocab.extend(w for w, _ in by_count)
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences: Sequence[Sequence[int]]) -> None:
        """Count document frequency of indices, so tfidf works on already-indexed data."""
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    # ------------------------------------------------------------------ texts <-> sequences
    def texts_to_sequences(self, texts: Iterable[str | list[str]]) -> list[list[int]]:
        """Each text -> list of indices. Unknown words are dropped, or become the oov index."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable[str | list[str]]) -> Iterator[list[int]]:
        """Lazy texts_to_sequences: yields one list of indices per text."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for text in texts:
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and not (num_words and i >= num_words):
                    vect.append(i)
                elif oov_index is not None:  # unknown, or past the num_words cut-off
                    vect.append(oov_index)
            yield vect

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]], join: str = " ") -> list[str]:
        """Each list of indices -> its tokens joined by ``join``.

        tf.keras joins with a space even when ``char_level=True`` ("我 喜 欢"), and that stays the
        default. ``join=""`` gives character-level text back exactly ("我喜欢"): an exact round trip
        when ``lower=False`` (or the text has no capitals) and every character is in the vocabulary.
        """
        return list(self.sequences_to_texts_generator(sequences, join=join))

    def sequences_to_texts_generator(self, sequences: Iterable[Sequence[int]], join: str = " ") -> Iterator[str]:
        """Lazy sequences_to_texts. With an oov_token, ANY unknown index (0 too) becomes it."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token)
        for seq in sequences:
            words = []
            for num in seq:
                word = self.index_word.get(num)
                if word is not None and not (num_words and num >= num_words):
                    words.append(word)
                elif oov_index is not None:
                    words.append(self.index_word[oov_index])
            yield join.join(words)

    # ------------------------------------------------------------------ matrices
    def texts_to_matrix(self, texts: Iterable[str | list[str]], mode: str = "binary") -> np.ndarray:
        """texts -> (len(texts), num_words) bag-of-words matrix; see sequences_to_matrix."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences: Sequence[Sequence[int]],
                            mode: str = "binary") -> np.ndarray:
        """Row i, column j scores index j in sequence i; indices >= width are ignored.

        binary: 1 if present;  count: c;  freq: c / len(seq) (len counts ignored indices too);
        tfidf:  (1 + log c) * log(1 + document_count / (1 + index_docs[j])).
        Width is num_words, else len(word_index) + 1 (column 0 is padding and stays 0).
        Returns float64, as tf.keras does.
        """
        if mode not in MATRIX_MODES:
            raise ValueError(f"Unknown vectorization mode {mode!r}; expected one of {MATRIX_MODES}.")
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("sequences_to_matrix needs a width: pass Tokenizer(num_words=...) or "
                             "call fit_on_texts(texts) first so the width is len(word_index) + 1.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("mode='tfidf' needs document frequencies, but this Tokenizer has seen "
                             "no documents; call fit_on_texts(texts) or fit_on_sequences(seqs) "
                             "before texts_to_matrix/sequences_to_matrix.")
        x = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            if not len(seq):
                continue
            counts: dict[int, int] = defaultdict(int)
            for j in seq:
                if j < width:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "binary":
                    x[row, j] = 1
                elif mode == "count":
                    x[row, j] = c
                elif mode == "freq":
                    x[row, j] = c / len(seq)
                else:  # tfidf, weighting scheme 2 of https://en.wikipedia.org/wiki/Tf-idf
                    tf = 1 + np.log(c)
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[row, j] = tf * idf
        return x

    # ------------------------------------------------------------------ serialization
    def get_config(self) -> dict:
        """Constructor arguments plus the fitted tables, each table as a JSON string (tf.keras's
        layout). The analyzer is a Python callable and is not saved."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs) -> str:
        """JSON string {"class_name": "Tokenizer", "config": get_config()}; kwargs go to json.dumps."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """Rebuild a Tokenizer saved with `to_json`.

    JSON object keys are always strings, so the integer keys of index_docs and index_word are
    turned back into ints here.
    """
    config = dict(json.loads(json_string)["config"])
    word_counts = json.loads(config.pop("word_counts"), object_pairs_hook=OrderedDict)
    word_docs = json.loads(config.pop("word_docs"))
    index_docs = {int(k): v for k, v in json.loads(config.pop("index_docs")).items()}
    index_word = {int(k): v for k, v in json.loads(config.pop("index_word")).items()}
    word_index = json.loads(config.pop("word_index"))

    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = word_counts
    # defaultdicts again, so fitting more texts after loading keeps working
    tokenizer.word_docs = defaultdict(int, word_docs)
    tokenizer.index_docs = defaultdict(int, index_docs)
    tokenizer.word_index = word_index
    tokenizer.index_word = index_word
    return tokenizer
