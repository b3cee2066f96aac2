"""The iteration algorithms behind ``Dataset``: tf.data's shuffle buffer and interleave cycle,
batching (plain and padded), the in-memory cache, and the threaded map."""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from shendu.data.structure import is_text


def stack(*arrays):
    try:
        return np.stack(arrays)
    except ValueError:
        shapes = sorted({np.shape(a) for a in arrays})
        raise ValueError(f"Cannot batch elements of different shapes {shapes[:4]} into one array. Use "
                         f"padded_batch() to pad them to one shape, or map() them to one shape first.") from None


def uniforms(rng):
    """An endless stream of floats in [0, 1), drawn 256 at a time (one draw per element is slow)."""
    while True:
        yield from rng.random(256).tolist()


def buffer_shuffle(iterator, buffer_size, rng):
    """tf.data's rule: fill a buffer of buffer_size, then output a uniformly random buffered element and
    put the next input element in its place; drain the buffer at random at the end."""
    buffer = []
    draws = uniforms(rng)
    for element in iterator:
        if len(buffer) < buffer_size:
            buffer.append(element)
            continue
        i = int(next(draws) * len(buffer))
        yield buffer[i]
        buffer[i] = element
    while buffer:
        i = int(next(draws) * len(buffer))
        buffer[i], buffer[-1] = buffer[-1], buffer[i]
        yield buffer.pop()


def pad_stack(arrays, shape=None, value=None):
    """Stack arrays of one rank, padding each at the end of every axis to ``shape`` (None entries: the
    largest size among them) with ``value`` (0, or '' for strings)."""
    rank = {a.ndim for a in arrays}
    if len(rank) != 1:
        raise ValueError(f"padded_batch: elements have different ranks {sorted(rank)}.")
    target = [max(a.shape[i] for a in arrays) for i in range(arrays[0].ndim)]
    for i, d in enumerate(shape or ()):
        if d is not None:
            if d < target[i]:
                raise ValueError(f"padded_batch: an element has size {target[i]} on axis {i}, larger than its "
                                 f"padded shape {tuple(shape)}.")
            target[i] = int(d)
    fill = value if value is not None else ("" if is_text(arrays[0]) else 0)
    out = np.full((len(arrays), *target), fill, dtype=arrays[0].dtype)
    for j, a in enumerate(arrays):
        out[(j,) + tuple(slice(0, d) for d in a.shape)] = a
    return out


def interleave(sources, open_inner, cycle, block):
    """tf.data's cycle: slot by slot, ``block`` elements from each open iterator; an ended slot is
    emptied and refilled from the next source element when the cycle comes back to it."""
    slots = [None] * cycle
    index, taken, open_count, input_done = 0, 0, 0, False
    while not input_done or open_count:
        if slots[index] is not None:
            try:
                element = next(slots[index])
            except StopIteration:
                slots[index], open_count = None, open_count - 1
                index, taken = (index + 1) % cycle, 0
                continue
            yield element
            taken += 1
            if taken == block:
                index, taken = (index + 1) % cycle, 0
        elif not input_done:
            try:
                slots[index] = open_inner(next(sources))
                open_count += 1
            except StopIteration:
                input_done = True
        else:
            index, taken = (index + 1) % cycle, 0


def chunks(iterator, size, drop_remainder):
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk or (drop_remainder and len(chunk) < size):
            return
        yield chunk


def filling(iterator, store):
    """Yield from ``iterator`` and keep the elements; a complete pass becomes the cache."""
    elements = []
    for element in iterator:
        elements.append(element)
        yield element
    store["elements"] = elements


def threaded(fn, iterator, workers):
    """fn over the iterator in ``workers`` threads, in order, with a bounded look-ahead."""
    with ThreadPoolExecutor(workers) as pool:
        pending = []
        for element in iterator:
            pending.append(pool.submit(fn, element))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
