"""TextVectorization: strings -> token ids or bag-of-words vectors, with Keras 3's rules.

Each string goes through five steps, as in Keras:

    standardize  "Hello, World!"      -> "hello world"          (lowercase, strip ASCII punctuation)
    split        "hello world"        -> ["hello", "world"]     (whitespace, or every character)
    ngrams       ["hello", "world"]   -> ["hello", "world", "hello world"]   (optional)
    look up      tokens               -> ids: 0 = '' (padding, int mode only), 1 = '[UNK]', then the vocabulary
    encode       ids                  -> int: (batch, length) padded with 0 at the end
                                         multi_hot / count / tf_idf: (batch, vocabulary_size) floats

``adapt(texts)`` learns the vocabulary: tokens by descending count, ties by the token itself from
high to low (Keras sorts (count, token) ascending and reverses), capped at ``max_tokens`` entries
counting the special ones. This is data preparation, not a differentiable op: the work is plain
Python on strings and the result is wrapped in a Tensor that carries no gradient.

Example:
    vectorizer = TextVectorization(max_tokens=5000, output_sequence_length=4)
    vectorizer.adapt(["foo bar", "bar baz", "baz bada boom"])
    vectorizer([["foo qux bar"], ["qux baz"]])    # [[4, 1, 3, 0], [1, 2, 0, 0]]
    vectorizer.get_vocabulary()                   # ['', '[UNK]', 'baz', 'bar', 'foo', 'boom', 'bada']
"""
from __future__ import annotations

import itertools
import re
import string
from collections import Counter
from typing import Iterable

import numpy as np

from shendu import backend
from shendu.layers.base import Layer
from shendu.layers.symbolic import KerasTensor, Node, is_symbolic
from shendu.preprocessing.chinese import segment_words, split_cjk
from shendu.tensor import Tensor

MASK_TOKEN = ""          # index 0 in int mode: padding
OOV_TOKEN = "[UNK]"      # index 1 in int mode (0 in the other modes): every token not in the vocabulary

# Keras's punctuation class, r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']': ASCII only, so Chinese
# "，。！" stay. One str.translate table does its work (it matches single characters).
PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\''
# TensorFlow's lower() without an encoding changes ASCII letters only ("É" stays "É")
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_STRIP = str.maketrans("", "", PUNCTUATION)
_LOWER_AND_STRIP = str.maketrans(string.ascii_uppercase, string.ascii_lowercase, PUNCTUATION)
_STANDARDIZE_TABLES = {"lower": _LOWER, "strip_punctuation": _STRIP, "lower_and_strip_punctuation": _LOWER_AND_STRIP}
# TensorFlow splits on runs of ASCII whitespace only (str.split() would also split on "\u3000", "\xa0")
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
# the characters str.split() also treats as whitespace; without them the faster str.split() agrees
_PYTHON_ONLY_SPACE = re.compile("[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_MODE_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


def split_whitespace(text: str) -> list[str]:
    """'  a b\\tc ' -> ['a', 'b', 'c']: runs of ASCII whitespace separate tokens; none are empty."""
    if _PYTHON_ONLY_SPACE.search(text) is None:
        return text.split()
    return [token for token in _WHITESPACE.split(text) if token]


def make_ngrams(tokens: list[str], widths: tuple[int, ...]) -> list[str]:
    """All n-grams of each width in turn, joined by one space (tf.strings.ngrams' order).

    make_ngrams(['a', 'b', 'c'], (1, 2)) == ['a', 'b', 'c', 'a b', 'b c']; a width longer than
    the sequence gives nothing.
    """
    out = []
    for n in widths:
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


class TextVectorization(Layer):
    """strings (batch,) or (batch, 1) -> ids (batch, length) int64, or (batch, depth) float32.

    Args:
        max_tokens: largest vocabulary size, special entries included ('' and '[UNK]' in int mode,
            '[UNK]' alone otherwise); None for no cap.
        standardize: None, 'lower', 'strip_punctuation', 'lower_and_strip_punctuation', or a callable
            that takes a NumPy array of str and returns one of the same shape.
        split: None (each string is one token), 'whitespace', 'character' (one token per Unicode
            character, as Keras: spaces become tokens too), or a callable that takes a (batch,) NumPy array
            of str and returns one token list per string. shendu adds two for Chinese (saved by name in
            the config): 'cjk' (one token per CJK character, Latin words kept whole, no whitespace
            tokens: mixed Chinese and English text) and 'jieba' (Chinese words by the jieba segmenter,
            the 'zh' extra).
        ngrams: None; n (all n-grams of widths 1..n); or a tuple of widths such as (1, 3).
        output_mode: 'int' (token ids), 'multi_hot' (1 where a token occurs), 'count' (how often),
            'tf_idf' (count * idf), 'one_hot' (split=None only: one token per string).
        output_sequence_length: int mode only: pad with 0 or cut at the end to exactly this length;
            None pads to the longest sequence in the batch.
        pad_to_max_tokens: multi_hot/count/tf_idf: make the output max_tokens wide.
        vocabulary: a list/tuple/array of tokens, or a path to a text file of one token per line.
        idf_weights: tf_idf only: one weight per vocabulary entry (required with ``vocabulary``).
        sparse, ragged: TensorFlow-only options in Keras 3; only False is accepted here.
        encoding: how bytes inputs and vocabulary files are decoded.

    The idf of a token seen in d of N adapted documents is log(1 + N / (1 + d)); the OOV slot gets
    the mean idf of the vocabulary.
    """

    def __init__(self, max_tokens: int | None = None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary=None, idf_weights=None, sparse: bool = False,
                 ragged: bool = False, encoding: str = "utf-8", name: str | None = None, vocabulary_size=None,
                 **kwargs):
        # vocabulary_size is Keras's config entry, recomputed from the vocabulary; until a saved
        # vocabulary is loaded it gives the output width of a model rebuilt from its config
        self._config_vocabulary_size = vocabulary_size
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        output_mode = _MODE_ALIASES.get(output_mode, output_mode)
        _check_choice("standardize", standardize, tuple(_STANDARDIZE_TABLES), allow_callable=True)
        _check_choice("split", split, ("whitespace", "character", "cjk", "jieba"), allow_callable=True)
        _check_choice("output_mode", output_mode, OUTPUT_MODES, allow_none=False)
        widths = _ngram_widths(ngrams)
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(f"`output_sequence_length` must not be set if `output_mode` is not 'int' (got "
                                 f"output_mode={output_mode!r}): the {output_mode} output is always "
                                 f"(batch, vocabulary_size) wide.")
            if not isinstance(output_sequence_length, (int, np.integer)) or isinstance(output_sequence_length, bool) \
                    or output_sequence_length < 1:
                raise ValueError(f"`output_sequence_length` must be a positive integer or None, "
                                 f"got {output_sequence_length!r}.")
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(f"If set, `max_tokens` must be an integer greater than 1 (it counts the '' and '[UNK]' "
                             f"entries too), got max_tokens={max_tokens!r}.")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError("pad_to_max_tokens=True needs `max_tokens` too: it is the width to pad the output to.")
        if sparse:
            raise ValueError("sparse=True returns a tf.SparseTensor and needs Keras's TensorFlow backend; shendu "
                             "returns dense arrays, so leave sparse=False.")
        if ragged:
            raise ValueError("ragged=True returns a tf.RaggedTensor and needs Keras's TensorFlow backend; shendu "
                             "pads every sequence with 0 instead, so leave ragged=False.")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"`idf_weights` should only be set if output_mode is 'tf_idf', got "
                             f"output_mode={output_mode!r}.")
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError("When passing `vocabulary` in 'tf_idf' output mode, pass `idf_weights` too (one per "
                             "token), or leave both out and call adapt() to learn them.")
        super().__init__(name=name, **kwargs)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.standardize = standardize
        self.split = split
        self.ngrams = tuple(ngrams) if isinstance(ngrams, list) else ngrams
        self._ngram_widths = widths
        self.output_mode = output_mode
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse, self.ragged = False, False
        self.encoding = encoding
        self._has_input_vocabulary = bool(has_input_vocabulary)
        # a file path is not kept for the config (Keras saves such a vocabulary as an asset instead)
        self.input_vocabulary = None if isinstance(vocabulary, str) else vocabulary
        self.input_idf_weights = idf_weights
        self._tokens: list[str] | None = None        # the vocabulary without special entries; None: not set yet
        self._index: dict[str, int] = {}
        self._lookup: dict[str, int] = {}
        self._idf: np.ndarray | None = None
        self.built = True
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------ vocabulary
    @property
    def _special_tokens(self) -> list[str]:
        """'' and '[UNK]' head the vocabulary in int mode; the other modes have no padding slot."""
        return [MASK_TOKEN, OOV_TOKEN] if self.output_mode == "int" else [OOV_TOKEN]

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The tokens in index order: get_vocabulary()[i] is the token of id i."""
        tokens = list(self._tokens or [])
        return self._special_tokens + tokens if include_special_tokens else tokens

    def vocabulary_size(self) -> int:
        """Number of ids, special entries included (2 + tokens in int mode, 1 + tokens otherwise)."""
        return len(self._special_tokens) + len(self._tokens or [])

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Use ``vocabulary`` (tokens, optionally headed by the special entries) instead of adapt()."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf': one weight per token.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"`idf_weights` should only be set if output_mode is 'tf_idf', got "
                             f"output_mode={self.output_mode!r}.")
        if isinstance(vocabulary, str):
            if self.output_mode == "tf_idf":
                raise ValueError("output_mode 'tf_idf' does not support loading a vocabulary from a file; pass "
                                 "the tokens as a list together with idf_weights.")
            with open(vocabulary, encoding=self.encoding) as f:
                vocabulary = f.read().splitlines()
        vocabulary = self._as_str_list(vocabulary, "vocabulary")
        if not vocabulary:
            raise ValueError("Cannot set an empty vocabulary; pass at least one token, or call adapt() on texts.")
        specials = self._special_tokens
        found_specials = vocabulary[:len(specials)] == specials
        tokens = vocabulary[len(specials):] if found_specials else vocabulary
        repeated = [t for t, c in Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(f"The vocabulary repeats {repeated}; every token must appear once.")
        if MASK_TOKEN in tokens:
            raise ValueError(f"The empty string '' is the padding token and cannot be a vocabulary entry (found at "
                             f"index {vocabulary.index(MASK_TOKEN)}). Leave out the special tokens, or put them "
                             f"first in exactly this order: {specials}.")
        size = len(specials) + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"The vocabulary has {size} entries ({len(specials)} special + {len(tokens)} tokens) "
                             f"but max_tokens is {self.max_tokens}; shorten it or raise max_tokens.")
        idf = None
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, dtype=np.float64)
            if weights.ndim != 1 or len(weights) != len(vocabulary):
                raise ValueError(f"`idf_weights` must be a 1-D list as long as the vocabulary ({len(vocabulary)}), "
                                 f"got shape {weights.shape}.")
            # without special entries the OOV slot has no weight of its own: use the mean idf
            front = [] if found_specials else [weights.mean()] * len(specials)
            idf = np.concatenate([front, weights])
        self._install(tokens, idf)

    def _install(self, tokens: list[str], idf: np.ndarray | None) -> None:
        start = len(self._special_tokens)
        self._tokens = list(tokens)
        self._index = {t: i for i, t in enumerate(self._tokens, start)}
        # '' is the padding token: id 0 in int mode, not counted in the other modes (-1, dropped later)
        self._lookup = {**self._index, MASK_TOKEN: 0 if self.output_mode == "int" else -1}
        if idf is not None:
            if self.pad_to_max_tokens:              # the padding columns never count: weight 0
                idf = np.pad(idf, (0, self.max_tokens - len(idf)))
            self._idf = idf.astype(backend.floatx)

    # ------------------------------------------------------------ adapt
    def adapt(self, data, batch_size=None, steps: int | None = None) -> None:
        """Learn the vocabulary (and the idf weights in tf_idf mode) from texts.

        Args:
            data: a list or array of strings (one batch), or an iterable of such batches
                (a generator, a dataset); each string is one document.
            batch_size: accepted for Keras compatibility; the data is read in the batches given.
            steps: with an iterable, read at most this many batches.
        """
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via the "
                             f"`vocabulary` argument; create a new TextVectorization without it to learn one.")
        if isinstance(data, (str, bytes)):
            raise TypeError(f"adapt() expects a list of texts, got a single string {data[:40]!r}; wrap it in a "
                            f"list: adapt([text]).")
        if isinstance(data, Tensor):
            data = data.numpy()
        if isinstance(data, (list, tuple, np.ndarray)):
            batches: Iterable = [data]
        elif hasattr(data, "__iter__"):
            batches = data if steps is None else _take(data, steps)
        else:
            raise TypeError(f"adapt() expects a list or array of strings, or an iterable of batches of them, "
                            f"got {type(data).__name__}.")
        counts: Counter = Counter()
        document_counts: Counter = Counter()
        num_documents = 0
        for batch in batches:
            if isinstance(batch, (str, bytes)):     # an iterable of single texts: each is a batch of one
                batch = [batch]
            rows, _ = self._tokenize(batch)
            counts.update(itertools.chain.from_iterable(rows))
            if self.output_mode == "tf_idf":
                for row in rows:
                    document_counts.update(set(row))
                num_documents += len(rows)
        for special in (MASK_TOKEN, OOV_TOKEN):     # these have fixed slots already
            counts.pop(special, None)
        if not counts:
            raise ValueError("adapt() found no tokens in the data: check that it holds non-empty texts and that "
                             "standardize/split do not remove everything.")
        # most frequent first; equal counts: the larger token first (Keras reverses an ascending sort)
        ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - len(self._special_tokens)]
        tokens = [token for token, _ in ranked]
        idf = None
        if self.output_mode == "tf_idf":
            df = np.array([document_counts[t] for t in tokens], dtype=np.float64)
            weights = np.log(1.0 + num_documents / (1.0 + df)).astype(np.float32)
            # the OOV slot's document frequency is unknown after one pass: Keras gives it the mean idf
            idf = np.concatenate([[weights.mean()] * len(self._special_tokens), weights])
        self._install(tokens, idf)

    # ------------------------------------------------------------ pipeline
    def _as_str_list(self, values, what: str) -> list[str]:
        if isinstance(values, Tensor):
            values = values.numpy()
        values = np.asarray(values, dtype=object).ravel().tolist()
        return [self._decode(v, what) for v in values]

    def _decode(self, value, what: str = "inputs") -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (bytes, np.bytes_)):
            return bytes(value).decode(self.encoding)
        raise TypeError(f"TextVectorization {what} must be strings, got {type(value).__name__} {value!r}. If you "
                        f"already have integer ids, skip this layer and feed them to the model directly.")

    def _as_texts(self, inputs) -> tuple[list[str], tuple]:
        """Inputs -> (flat list of str, shape); bytes decoded with ``encoding``. Python strings, not a
        fixed-width NumPy 'U' array, so one long review does not widen every row."""
        if isinstance(inputs, Tensor):
            inputs = inputs.numpy()
        array = np.asarray(inputs, dtype=object)
        shape = array.shape if array.ndim else (1,)
        return [self._decode(v) for v in array.ravel().tolist()], shape

    @staticmethod
    def _to_numpy(texts: list[str], shape: tuple) -> np.ndarray:
        """The NumPy array of str that Keras hands a standardize/split callable."""
        return np.array(texts, dtype=str).reshape(shape) if texts else np.zeros(shape, dtype=str)

    def _tokenize(self, inputs) -> tuple[list[list[str]], tuple]:
        """Standardize, split and n-gram: one token list per example, and the input's shape."""
        texts, shape = self._as_texts(inputs)
        if callable(self.standardize):
            result = np.asarray(self.standardize(self._to_numpy(texts, shape)))
            if result.shape != shape:
                raise ValueError(f"The standardize callable must return an array of the shape it got, {shape}, "
                                 f"but returned shape {result.shape}.")
            texts, _ = self._as_texts(result)
        elif self.standardize is not None:
            table = _STANDARDIZE_TABLES[self.standardize]
            texts = [t.translate(table) for t in texts]
        if self.split is None:
            if len(shape) > 2:
                raise ValueError(f"TextVectorization expects strings of shape (batch,) or (batch, tokens), got "
                                 f"{shape}.")
            width = shape[1] if len(shape) == 2 else 1
            rows = [texts[i:i + width] for i in range(0, len(texts), width)] if width else [[] for _ in range(shape[0])]
        else:
            if len(shape) != 1 and not (len(shape) == 2 and shape[1] == 1):
                raise ValueError(f"When TextVectorization splits strings, the input must be (batch,) or (batch, 1) "
                                 f"(one text per example), got shape {shape}. Join each example's texts into "
                                 f"one string, or pass split=None for already tokenized input.")
            rows = self._split_rows(texts)
        if self._ngram_widths is not None:
            rows = [make_ngrams(row, self._ngram_widths) for row in rows]
        return rows, shape

    def _split_rows(self, texts: list[str]) -> list[list[str]]:
        if self.split == "whitespace":
            return [split_whitespace(t) for t in texts]
        if self.split == "character":
            return [list(t) for t in texts]
        if self.split == "cjk":
            return [split_cjk(t) for t in texts]
        if self.split == "jieba":
            return [segment_words(t) for t in texts]
        result = self.split(self._to_numpy(texts, (len(texts),)))     # Keras: the (batch,) strings at once
        rows = [self._as_str_list(r, "split tokens") for r in result]
        if len(rows) != len(texts):
            raise ValueError(f"The split callable must return one token list per text ({len(texts)}), "
                             f"got {len(rows)}.")
        return rows

    def _check_vocabulary(self) -> None:
        if self._tokens is None:
            raise RuntimeError(f"TextVectorization '{self.name}' has no vocabulary yet. Call "
                               f"layer.adapt(texts) on training texts first, or pass vocabulary=[...] "
                               f"(or call set_vocabulary) before calling the layer.")

    # ------------------------------------------------------------ call
    _accepts_strings = True
    input_dtype = "string"        # a Sequential model starting with this layer takes arrays of str

    def __call__(self, inputs, *args, **kwargs):
        if is_symbolic(inputs):
            return self._symbolic_text_call(inputs)
        return self.call(inputs)

    def _symbolic_text_call(self, inputs):
        """Called on ``Input(shape=(1,), dtype="string")``: record the call for a functional model; the
        output is (None, output_sequence_length) int64 ids, or (None, depth) float32."""
        if not isinstance(inputs, KerasTensor):
            raise TypeError(f"TextVectorization takes one input of strings, got {inputs!r}.")
        if inputs.dtype != "string":
            raise TypeError(f"TextVectorization needs a string input, e.g. keras.Input(shape=(1,), dtype='string'); "
                            f"got an input of dtype {inputs.dtype}. Integer ids skip this layer and go straight to "
                            f"an Embedding.")
        node = Node(self, (inputs,), {}, None)
        node.outputs = self.compute_output_spec(inputs)
        node.outputs.node = node
        self._inbound_nodes.append(node)
        return node.outputs

    def compute_output_spec(self, inputs) -> KerasTensor:
        """The symbolic output for a symbolic input of strings (no vocabulary needed)."""
        shape = tuple(inputs.shape)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None) and self.split is not None):
            raise ValueError(f"TextVectorization expects strings of shape (batch,) or (batch, 1), got {shape}.")
        if self.output_mode == "int" and self.split is None and self._ngram_widths is None \
                and self.output_sequence_length is None:
            out_shape = shape                          # element-wise lookup keeps the shape
        else:
            out_shape = self.compute_output_shape(shape)
        return KerasTensor(out_shape, "int64" if self.output_mode == "int" else np.dtype(backend.floatx).name)

    def call(self, inputs):
        """texts -> Tensor of ids (int64) or of per-token weights (float32); see the class docstring."""
        self._check_vocabulary()
        scalar = isinstance(inputs, (str, bytes)) or (isinstance(inputs, np.ndarray) and inputs.ndim == 0)
        rows, shape = self._tokenize(inputs)
        oov = len(self._special_tokens) - 1                  # 1 in int mode, 0 otherwise
        get = self._lookup.get
        ids = [list(map(get, row, itertools.repeat(oov, len(row)))) for row in rows]
        if self.output_mode == "int":
            out = self._pad(ids, shape)
        else:
            out = self._encode(ids)
        if scalar:
            out = out[0]
        return Tensor._wrap(backend.asarray(out), False)

    def _pad(self, ids: list[list[int]], shape: tuple) -> np.ndarray:
        """Ragged id lists -> (batch, length) int64, 0 filling the end; a cut keeps the first ids."""
        if self.split is None and self._ngram_widths is None and self.output_sequence_length is None:
            return np.array(ids, dtype=np.int64).reshape(shape)          # element-wise lookup: shape kept
        length = self.output_sequence_length
        if length is None:
            length = max((len(row) for row in ids), default=0)
        kept = [row[:length] for row in ids]
        lengths = np.array([len(row) for row in kept], dtype=np.int64)
        out = np.zeros((len(ids), length), dtype=np.int64)
        # row-major boolean assignment fills each row's first len(row) slots, in order
        out[np.arange(length) < lengths[:, None]] = np.fromiter(itertools.chain.from_iterable(kept), np.int64)
        return out

    def _encode(self, ids: list[list[int]]) -> np.ndarray:
        """Id lists -> (batch, depth) float32: multi_hot 1/0, count n, tf_idf n * idf[id], one_hot."""
        depth = self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()
        out = np.zeros((len(ids), depth), dtype=backend.floatx)
        for b, row in enumerate(ids):
            row = [i for i in row if i >= 0]
            if self.output_mode == "one_hot":
                if len(row) > 1:
                    raise ValueError("output_mode='one_hot' encodes one token per example; these texts split into "
                                     "several tokens. Use split=None, or 'multi_hot'/'count' for a bag of tokens.")
                out[b, row] = 1.0
            elif self.output_mode == "multi_hot":
                out[b, row] = 1.0
            else:
                np.add.at(out[b], row, 1.0)
        if self.output_mode == "tf_idf":
            out *= self._idf[:depth]
        return out

    def compute_output_shape(self, input_shape) -> tuple:
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        if self.pad_to_max_tokens:
            return (input_shape[0], self.max_tokens)
        if self._tokens is None:
            return (input_shape[0], self._config_vocabulary_size)
        return (input_shape[0], self.vocabulary_size())

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {**super().get_config(), "max_tokens": self.max_tokens, "standardize": self.standardize,
                "split": self.split, "ngrams": self.ngrams, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": self.pad_to_max_tokens,
                "sparse": self.sparse, "ragged": self.ragged, "vocabulary": _listify(self.input_vocabulary),
                "idf_weights": _listify(self.input_idf_weights), "encoding": self.encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):      # JSON turned the tuple into a list
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)


def _check_choice(arg: str, value, allowed: tuple, allow_callable: bool = False, allow_none: bool = True) -> None:
    if (value is None and allow_none) or (allow_callable and callable(value)) or \
            (isinstance(value, str) and value in allowed):
        return
    extra = (["None"] if allow_none else []) + (["a callable"] if allow_callable else [])
    raise ValueError(f"Unknown value for `{arg}` argument of TextVectorization: {value!r}. Allowed values are "
                     f"{', '.join(repr(a) for a in allowed)}" + (f" or {' or '.join(extra)}." if extra else "."))


def _ngram_widths(ngrams) -> tuple[int, ...] | None:
    """None -> None; n -> (1, ..., n); (a, b) -> (a, b)."""
    def positive_int(n):
        return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
    if ngrams is None:
        return None
    if positive_int(ngrams):
        return tuple(range(1, int(ngrams) + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(positive_int(n) for n in ngrams):
        return tuple(int(n) for n in ngrams)
    raise ValueError(f"`ngrams` must be None, a positive integer (all widths up to it) or a tuple of positive "
                     f"integers such as (1, 3), got ngrams={ngrams!r}.")


def _take(data: Iterable, steps: int):
    for i, batch in enumerate(data):
        if i >= steps:
            return
        yield batch


def _listify(x):
    """Arrays -> lists so the config is JSON (Keras's listify_tensors)."""
    if isinstance(x, Tensor):
        x = x.numpy()
    if isinstance(x, np.ndarray):
        x = x.tolist()
    return x
