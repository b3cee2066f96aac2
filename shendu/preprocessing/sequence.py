"""Legacy tf.keras sequence preprocessing: `pad_sequences`, `make_sampling_table`, `skipgrams`.

Models take rectangular batches, but sentences have different lengths; `pad_sequences` cuts and
fills them to one length. Results match `tf.keras.preprocessing.sequence` (also exported there as
`tf.keras.utils.pad_sequences`).
"""
from __future__ import annotations

import random
from typing import Sequence

import numpy as np

PAD_SIDES = ("pre", "post")


def pad_sequences(sequences: Sequence, maxlen: int | None = None, dtype="int32",
                  padding: str = "pre", truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pad or cut every sequence to `maxlen`, giving an array (num_samples, maxlen, *sample_shape).

    Args:
        sequences: list of sequences (lists or arrays); items may be scalars or arrays of one
            common shape, e.g. a list of (time, features) arrays gives (num, maxlen, features).
        maxlen: output length; None means the longest sequence.
        dtype: output dtype; use `object` (or a numpy string dtype) for strings.
        padding: 'pre' fills at the start (the default, so an RNN ends on real data) or 'post'.
        truncating: 'pre' drops the start of long sequences (keeps the last maxlen), 'post' the end.
        value: the fill value; a string needs a string or object dtype.

    Example:
        pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)  # [[0, 1], [2, 3], [5, 6]]
    """
    for name, side in (("padding", padding), ("truncating", truncating)):
        if side not in PAD_SIDES:
            raise ValueError(f"{name}={side!r} not understood; expected 'pre' or 'post'.")
    if not hasattr(sequences, "__len__"):
        if not hasattr(sequences, "__iter__"):
            raise ValueError(f"`sequences` must be a list of sequences, but got "
                             f"{type(sequences).__name__} {sequences!r}.")
        sequences = list(sequences)  # a generator: materialize it once

    lengths = []
    sample_shape: tuple = ()
    found_sample = False
    for idx, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"`sequences` must be a list of sequences, but item {idx} is "
                             f"{type(s).__name__} {s!r}; wrap a single sequence in a list: "
                             f"pad_sequences([seq]).")
        lengths.append(len(s))
        if not found_sample and len(s):
            # the first non-empty sequence fixes the shape of one timestep
            sample_shape = np.asarray(s).shape[1:]
            found_sample = True

    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
        raise ValueError(f"pad_sequences: maxlen must be a positive integer (the length of every output row), got "
                         f"{maxlen!r}; pass e.g. maxlen={max(lengths, default=1) or 1} (the longest sequence), or "
                         "maxlen=None to use the longest one.")

    is_str_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str_dtype:
        raise ValueError(f"dtype {dtype!r} cannot hold the string padding value {value!r}; "
                         "pass dtype=object for variable-length strings.")

    x = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue  # an empty sequence is all padding
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Sequence {idx} has timesteps of shape {trunc.shape[1:]}, but the "
                             f"first non-empty sequence set the shape {sample_shape}; every "
                             "timestep must have the same shape.")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """p[rank] = min(1, sqrt(sampling_factor * inv_freq(rank))): word2vec subsampling by rank.

    Word frequencies are assumed Zipfian, 1 / freq(rank) ~ rank * (ln rank + gamma) + 1/2 - 1/(12 rank),
    so frequent (low-rank) words get a small probability of being kept. Entry 0 uses rank 1.
    """
    gamma = 0.577
    rank = np.arange(size)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(sequence: Sequence[int], vocabulary_size: int, window_size: int = 4,
              negative_samples: float = 1.0, shuffle: bool = True, categorical: bool = False,
              sampling_table: Sequence[float] | None = None,
              seed: int | None = None) -> tuple[list[list[int]], list]:
    """Word2vec training pairs: (word, neighbour within window_size) labelled 1, and
    (word, random index in [1, vocabulary_size)) labelled 0, `negative_samples` per positive.

    Index 0 is padding and is skipped. `sampling_table[w]` is the chance word w is used as a
    centre word. Labels are 0/1, or [1, 0]/[0, 1] when categorical. One private RNG, seeded by
    `seed`, drives sampling, negatives and the shuffle, so a seed makes the result repeatable.
    """
    rng = random.Random(seed)
    couples: list[list[int]] = []
    labels: list = []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < rng.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            wj = sequence[j]
            if j != i and wj:
                couples.append([wi, wj])
                labels.append([0, 1] if categorical else 1)

    if negative_samples > 0 and couples:
        num_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        rng.shuffle(words)
        couples += [[words[k % len(words)], rng.randint(1, vocabulary_size - 1)]
                    for k in range(num_negative)]
        labels += [[1, 0] if categorical else 0 for _ in range(num_negative)]

    if shuffle:
        order = list(range(len(couples)))
        rng.shuffle(order)
        couples = [couples[k] for k in order]
        labels = [labels[k] for k in order]
    return couples, labels
