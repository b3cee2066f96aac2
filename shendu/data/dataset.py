"""``Dataset``: tf.data's input pipeline as a thin, lazy Python pipeline over NumPy arrays.

    ds = (Dataset.from_tensor_slices((x, y))      # one element per sample: (x[i], y[i])
          .shuffle(1000, seed=0)                  # sample from a buffer of 1000 elements
          .batch(32)                              # stack 32 elements: (x[i:i+32], y[i:i+32])
          .map(lambda x, y: (x / 255.0, y))       # any Python function
          .prefetch(AUTOTUNE))
    model.fit(ds, epochs=3)

A dataset is a recipe: nothing runs until it is iterated, and each iteration starts again from the
source (reshuffling, unless ``reshuffle_each_iteration=False``). An element is an array, or a
tuple or dict of them. Iterating gives shendu Tensors (strings stay NumPy arrays of ``str``);
``as_numpy_iterator()`` gives NumPy values; map and filter functions receive NumPy values (what
they return may be Tensors or arrays).

What it does not do, compared with tf.data:
- no graph: ``map`` calls the Python function on each element, eagerly; there is no tracing,
  no AutoGraph, and no ``tf.py_function`` is needed.
- no parallelism beyond threads: ``map(num_parallel_calls=n)`` runs the function in n Python
  threads (results stay in order); ``prefetch`` and ``interleave``-style overlap do nothing,
  data is read in the training thread.
- ``cache()`` keeps elements in memory only; strings stay ``str`` (TensorFlow gives ``bytes``).

Shuffling follows tf.data: the first ``buffer_size`` elements fill a buffer, each output is a
uniformly random element of the buffer whose place the next input element takes. A full shuffle
needs ``buffer_size`` >= the dataset size. The same ``seed`` gives the same order; without a seed
the order comes from shendu's generator (``shendu.set_seed`` repeats it).
"""
from __future__ import annotations

import itertools
import os
import threading

import numpy as np

from shendu import backend
from shendu.data import iteration
from shendu.data.structure import (TensorSpec, as_dtype, from_user, is_text, leaves, map_many, map_structure,
                                   same_structure, to_array, to_user)
from shendu.tensor import Tensor

INFINITE = -1
UNKNOWN = -2
AUTOTUNE = -1


class _Peeking(threading.local):
    """Set while element_spec reads a first element: that read does not count as an epoch of shuffling."""
    active = False


_peeking = _Peeking()


def _gather(source, index):
    return map_structure(lambda a: a[index], source)


def _call(fn, element):
    """tf.data's calling convention: a tuple element is spread over the arguments, anything else is one.
    The function gets NumPy values: every Python operator works on them, and shendu's functions
    (``tf.cast``, layers) accept them."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _check_count(name, value, allow_none=False):
    if (value is None and allow_none) or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return None if value is None else int(value)
    if isinstance(value, Tensor) and value.ndim == 0:
        return int(value)
    raise TypeError(f"Dataset.{name} expects an integer, got {value!r} ({type(value).__name__}).")


class Dataset:
    """A lazy sequence of elements (see the module docstring). Build one with ``from_tensor_slices``,
    ``from_tensors``, ``from_generator``, ``range`` or ``zip``; each method returns a new dataset."""

    def __init__(self, make, cardinality=UNKNOWN, spec=None, source=None, make_indices=None):
        self._make = make                  # () -> a fresh iterator of elements
        self._cardinality = cardinality
        self._spec = spec                  # a structure of TensorSpec, or a function computing it
        # datasets that only select and reorder the rows of in-memory arrays keep the arrays and an
        # index stream, so that batch() gathers a whole batch with one fancy index per array
        self._source = source
        self._make_indices = make_indices

    @classmethod
    def _indexed(cls, source, make_indices, cardinality, spec):
        return cls(lambda: (_gather(source, i) for i in make_indices()), cardinality, spec, source, make_indices)

    # ------------------------------------------------------------ sources
    @staticmethod
    def from_tensor_slices(tensors, name=None) -> "Dataset":
        """One element per index of the first axis: from_tensor_slices((x, y)) gives (x[i], y[i])."""
        data = map_structure(to_array, tensors)
        arrays = leaves(data)
        if any(a.ndim == 0 for a in arrays):
            raise ValueError("from_tensor_slices needs arrays with a first axis to slice; got a scalar. Use "
                             "from_tensors() for a single element.")
        sizes = {len(a) for a in arrays}
        if len(sizes) != 1:
            raise ValueError(f"from_tensor_slices: all arrays must have the same first dimension, got sizes "
                             f"{[len(a) for a in arrays]}.")
        n = sizes.pop()
        spec = map_structure(lambda a: TensorSpec.from_array(a, batched=True), data)
        return Dataset._indexed(data, lambda: iter(range(n)), n, spec)

    @staticmethod
    def from_tensors(tensors, name=None) -> "Dataset":
        """A dataset of exactly one element: ``tensors`` itself."""
        data = map_structure(to_array, tensors)
        return Dataset(lambda: iter([data]), 1, map_structure(TensorSpec.from_array, data))

    @staticmethod
    def range(*args, dtype="int64", name=None) -> "Dataset":
        """range(stop), range(start, stop[, step]): like Python's range, as int64 scalars."""
        r = range(*(int(a) for a in args))
        dtype = as_dtype(dtype)
        return Dataset(lambda: (np.array(i, dtype) for i in r), len(r), TensorSpec((), dtype))

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None, output_signature=None,
                       name=None) -> "Dataset":
        """Elements from ``generator()`` (called anew for each iteration), typed by ``output_signature``
        (a structure of TensorSpec) or by tf.keras 2's ``output_types`` / ``output_shapes``."""
        if not callable(generator):
            raise TypeError(f"from_generator expects a callable that returns an iterator (so that each iteration "
                            f"can start again), got {type(generator).__name__}. Pass the generator function "
                            f"itself, e.g. from_generator(gen, ...) rather than from_generator(gen()).")
        if output_signature is None:
            if output_types is None:
                raise TypeError("from_generator needs `output_signature` (a TensorSpec or a tuple/dict of them), "
                                "e.g. output_signature=(TensorSpec((None,), 'float32'), TensorSpec((), 'int32')).")
            shapes = output_shapes if output_shapes is not None else map_structure(lambda _: None, output_types)
            output_signature = map_many(lambda t, s: TensorSpec(s, t), [output_types, _as_structure(shapes,
                                                                                                    output_types)])
        elif output_types is not None or output_shapes is not None:
            raise TypeError("from_generator takes either `output_signature` or `output_types`/`output_shapes`, "
                            "not both.")
        signature = output_signature
        call_args = tuple(args) if args is not None else ()

        def conform(value):
            value = _as_structure(value, signature)
            if not same_structure(value, signature):
                raise TypeError(f"The generator yielded {str(value)[:80]} whose structure does not match "
                                f"output_signature {signature}.")

            def leaf(v, spec):
                array = to_array(v, spec.dtype if not is_text(np.empty(0, spec.dtype)) else None)
                if not spec.is_compatible_with(array):
                    raise ValueError(f"The generator yielded an element of shape {array.shape} where an element "
                                     f"of shape {spec.shape} was expected (None matches any size).")
                return array
            return map_many(leaf, [value, signature])

        return Dataset(lambda: (conform(v) for v in generator(*call_args)), UNKNOWN, signature)

    @staticmethod
    def zip(*datasets, name=None) -> "Dataset":
        """Elements side by side: zip((a, b)) or zip(a, b) gives (a_i, b_i); a dict of datasets gives dicts."""
        structure = datasets[0] if len(datasets) == 1 else tuple(datasets)
        flat = leaves(structure)
        if not flat or not all(isinstance(d, Dataset) for d in flat):
            raise TypeError(f"Dataset.zip expects datasets (or a tuple/dict of them), got {structure!r}.")

        def make():
            iterators = [d._make() for d in flat]
            while True:
                values = []
                for it in iterators:      # a plain loop: StopIteration must not escape a comprehension
                    try:
                        values.append(next(it))
                    except StopIteration:
                        return
                rest = iter(values)
                yield map_structure(lambda _: next(rest), structure)
        cards = [d._cardinality for d in flat]
        known = [c for c in cards if c >= 0]
        card = min(known) if known else (INFINITE if all(c == INFINITE for c in cards) else UNKNOWN)
        return Dataset(make, card, lambda: map_structure(lambda d: d.element_spec, structure))

    # ------------------------------------------------------------ element-wise
    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None) -> "Dataset":
        """Apply ``map_func`` to each element; ``num_parallel_calls=n`` (or AUTOTUNE) uses n threads."""
        workers = _check_count("map num_parallel_calls", num_parallel_calls, allow_none=True)
        if workers == AUTOTUNE:
            workers = os.cpu_count() or 1
        if workers is not None and workers < 1:
            raise ValueError(f"num_parallel_calls must be a positive integer or AUTOTUNE, got {num_parallel_calls}.")
        parent = self

        def apply(element):
            return from_user(_call(map_func, element))

        def make():
            if not workers or workers == 1:
                return (apply(e) for e in parent._make())
            return iteration.threaded(apply, parent._make(), workers)
        return Dataset(make, self._cardinality, lambda: _peek_spec(self, apply))

    def filter(self, predicate, name=None) -> "Dataset":
        """Keep the elements for which ``predicate(element)`` is true (a scalar bool)."""
        def keep(element):
            result = np.asarray(_call(predicate, element))
            if result.shape != ():
                raise ValueError(f"A filter predicate must return one boolean per element, got shape {result.shape}.")
            return bool(result)
        parent = self
        return Dataset(lambda: (e for e in parent._make() if keep(e)), UNKNOWN, lambda: parent.element_spec)

    def enumerate(self, start=0, name=None) -> "Dataset":
        """(index, element) pairs, the index an int64 scalar counting from ``start``."""
        parent = self
        return Dataset(lambda: ((np.array(i, np.int64), e) for i, e in enumerate(parent._make(), start)),
                       self._cardinality, lambda: (TensorSpec((), np.int64), parent.element_spec))

    def apply(self, transformation_func) -> "Dataset":
        return transformation_func(self)

    def take_while(self, predicate, name=None) -> "Dataset":
        """The elements up to (not including) the first one for which ``predicate`` is false."""
        parent = self
        return Dataset(lambda: itertools.takewhile(lambda e: bool(np.asarray(_call(predicate, e))), parent._make()),
                       UNKNOWN, lambda: parent.element_spec)

    def shard(self, num_shards, index, name=None) -> "Dataset":
        """Every ``num_shards``-th element, starting at ``index``."""
        num_shards, index = _check_count("shard num_shards", num_shards), _check_count("shard index", index)
        if not 0 <= index < num_shards:
            raise ValueError(f"shard index must be in [0, num_shards={num_shards}), got {index}.")
        card = self._cardinality
        if card >= 0:
            card = len(range(index, card, num_shards))
        return self._derive(lambda make: (lambda: itertools.islice(make(), index, None, num_shards)), card)

    def unique(self, name=None) -> "Dataset":
        """Each distinct scalar element once, in order of first appearance."""
        parent = self

        def make():
            seen = set()
            for e in parent._make():
                key = np.asarray(e).item() if not isinstance(e, (tuple, dict)) and np.ndim(e) == 0 else None
                if key is None:
                    raise TypeError("unique() works on datasets of scalars only (ints or strings).")
                if key not in seen:
                    seen.add(key)
                    yield e
        return Dataset(make, UNKNOWN, lambda: parent.element_spec)

    def interleave(self, map_func, cycle_length=None, block_length=1, num_parallel_calls=None, deterministic=None,
                   name=None) -> "Dataset":
        """``map_func(element)`` returns a dataset; take ``block_length`` elements from each of
        ``cycle_length`` open datasets in turn (tf.data's order), opening the next as one ends."""
        block = _check_count("interleave block_length", block_length)
        cycle = _check_count("interleave cycle_length", cycle_length, allow_none=True)
        cycle = (os.cpu_count() or 1) if cycle in (None, AUTOTUNE) else cycle
        parent = self

        def open_inner(element):
            inner = _call(map_func, element)
            if not isinstance(inner, Dataset):
                raise TypeError(f"interleave's function must return a Dataset, got {type(inner).__name__}.")
            return inner._make()

        def make():
            return iteration.interleave(parent._make(), open_inner, cycle, block)
        return Dataset(make, UNKNOWN, lambda: _peek_spec(self, lambda e: _call(map_func, e), flat=True))

    def reduce(self, initial_state, reduce_func):
        """Fold the elements: state = reduce_func(state, element), from ``initial_state``."""
        state = initial_state
        for element in self._make():
            state = reduce_func(state, *element) if isinstance(element, tuple) else reduce_func(state, element)
        return map_structure(lambda v: to_user(to_array(v)), from_user(state) if not isinstance(state, Tensor)
                             else to_array(state))

    def get_single_element(self, name=None):
        """The only element of a one-element dataset."""
        elements = list(itertools.islice(self._make(), 2))
        if len(elements) != 1:
            raise ValueError(f"get_single_element needs a dataset of exactly one element, this one has "
                             f"{'none' if not elements else 'more than one'}.")
        return map_structure(to_user, elements[0])

    # ------------------------------------------------------------ order and count
    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=None, name=None) -> "Dataset":
        """Sample each element from a buffer of ``buffer_size`` (see the module docstring)."""
        buffer_size = _check_count("shuffle buffer_size", buffer_size)
        if buffer_size == AUTOTUNE:
            raise ValueError("shuffle(buffer_size=AUTOTUNE) is not supported; give the buffer size (the dataset's "
                             "size for a full shuffle).")
        if buffer_size < 1:
            raise ValueError(f"shuffle buffer_size must be at least 1, got {buffer_size}.")
        base = int(seed) if seed is not None else int(backend.rng.integers(2 ** 31))
        reshuffle = True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration)
        epochs = itertools.count()

        def rng():
            if _peeking.active or not reshuffle:
                return np.random.default_rng(base)
            return np.random.default_rng([base, next(epochs)])
        if self._source is not None:
            parent_indices = self._make_indices
            return Dataset._indexed(self._source, lambda: iteration.buffer_shuffle(parent_indices(), buffer_size, rng()),
                                    self._cardinality, self._spec)
        parent = self
        return Dataset(lambda: iteration.buffer_shuffle(parent._make(), buffer_size, rng()), self._cardinality,
                       lambda: parent.element_spec)

    def repeat(self, count=None, name=None) -> "Dataset":
        """The elements ``count`` times over (forever with None or -1); each pass iterates anew."""
        count = _check_count("repeat count", count, allow_none=True)
        forever = count is None or count < 0
        card = self._cardinality
        if card == 0 or count == 0:
            card = 0
        elif card >= 0:
            card = INFINITE if forever else card * count
        passes = (lambda: itertools.count()) if forever else (lambda: range(count))
        return self._derive(lambda make: (lambda: itertools.chain.from_iterable(make() for _ in passes())), card)

    def take(self, count, name=None) -> "Dataset":
        """The first ``count`` elements (all of them with -1)."""
        count = _check_count("take count", count)
        card = self._cardinality
        if count >= 0:
            card = min(card, count) if card >= 0 else (count if card == INFINITE else UNKNOWN)
        stop = None if count < 0 else count
        return self._derive(lambda make: (lambda: itertools.islice(make(), stop)), card)

    def skip(self, count, name=None) -> "Dataset":
        """All but the first ``count`` elements (skip(-1) skips everything)."""
        count = _check_count("skip count", count)
        card = self._cardinality
        if count < 0:
            card = 0 if card != INFINITE else INFINITE
        elif card >= 0:
            card = max(card - count, 0)
        if count < 0:
            return self._derive(lambda make: (lambda: iter(())), card)
        return self._derive(lambda make: (lambda: itertools.islice(make(), count, None)), card)

    def concatenate(self, dataset, name=None) -> "Dataset":
        """This dataset's elements, then ``dataset``'s (their structures must match)."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"concatenate expects a Dataset, got {type(dataset).__name__}.")
        first, second = self, dataset
        cards = (first._cardinality, second._cardinality)
        card = INFINITE if INFINITE in cards else (sum(cards) if min(cards) >= 0 else UNKNOWN)

        def spec():
            a, b = first.element_spec, second.element_spec
            if not same_structure(a, b):
                raise TypeError(f"Cannot concatenate datasets with different element structures: {a} and {b}.")
            return map_many(lambda s, t: s.most_specific_compatible(t), [a, b])
        return Dataset(lambda: itertools.chain(first._make(), second._make()), card, spec)

    def prefetch(self, buffer_size, name=None) -> "Dataset":
        """Accepted for tf.data compatibility; elements are produced on demand in the reading thread."""
        _check_count("prefetch buffer_size", buffer_size)
        return self

    def cache(self, filename="", name=None) -> "Dataset":
        """Keep the elements in memory after the first full pass; later passes read them from there."""
        if filename:
            raise ValueError(f"cache(filename={filename!r}): shendu caches in memory only; call cache() without a "
                             f"file name, or save the arrays with numpy.save and build the dataset from them.")
        store = {}
        parent = self

        def make():
            if "elements" in store:
                return iter(store["elements"])
            return iteration.filling(parent._make(), store)
        return Dataset(make, self._cardinality, lambda: parent.element_spec)

    # ------------------------------------------------------------ batching
    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None,
              name=None) -> "Dataset":
        """Stack ``batch_size`` consecutive elements along a new first axis; the last batch may be smaller
        unless ``drop_remainder``."""
        size = _check_count("batch batch_size", batch_size)
        if size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        card = self._cardinality
        if card >= 0:
            card = card // size if drop_remainder else -(-card // size)

        def spec():
            return map_structure(lambda s: TensorSpec(None if s.shape is None else
                                                      (size if drop_remainder else None,) + s.shape, s.dtype),
                                 self.element_spec)
        if self._source is not None:
            source, indices = self._source, self._make_indices

            def make_indexed():
                for chunk in iteration.chunks(indices(), size, drop_remainder):
                    yield _gather(source, np.asarray(chunk, dtype=np.intp))
            return Dataset(make_indexed, card, spec)
        parent = self
        return Dataset(lambda: (map_many(iteration.stack, chunk) for chunk in iteration.chunks(parent._make(), size, drop_remainder)),
                       card, spec)

    def padded_batch(self, batch_size, padded_shapes=None, padding_values=None, drop_remainder=False,
                     name=None) -> "Dataset":
        """Like batch(), padding each array at the end of every axis to ``padded_shapes`` (None: the
        largest in the batch) with ``padding_values`` (0, or '' for strings)."""
        size = _check_count("padded_batch batch_size", batch_size)
        if size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        parent = self

        def pad_batch(chunk):
            structure = chunk[0]
            shapes = iter(_per_leaf(padded_shapes, structure))
            values = iter(_per_leaf(padding_values, structure))
            return map_many(lambda *xs: iteration.pad_stack(xs, next(shapes), next(values)), list(chunk))

        card = parent._cardinality
        if card >= 0:
            card = card // size if drop_remainder else -(-card // size)
        return Dataset(lambda: (pad_batch([map_structure(np.asarray, e) for e in chunk])
                                for chunk in iteration.chunks(parent._make(), size, drop_remainder)), card,
                       lambda: map_structure(lambda s: TensorSpec(None if s.shape is None else
                                                                  (None,) + tuple(None for _ in s.shape), s.dtype),
                                             parent.element_spec))

    def unbatch(self, name=None) -> "Dataset":
        """Split each element along its first axis: the inverse of batch()."""
        parent = self

        def make():
            for element in parent._make():
                arrays = leaves(element)
                if any(np.ndim(a) == 0 for a in arrays):
                    raise ValueError("unbatch needs every array of an element to have a first axis; got a scalar.")
                for i in range(len(arrays[0])):
                    yield map_structure(lambda a: a[i], element)
        return Dataset(make, UNKNOWN, lambda: map_structure(
            lambda s: TensorSpec(None if s.shape is None else s.shape[1:], s.dtype), parent.element_spec))

    def flat_map(self, map_func, name=None) -> "Dataset":
        """``map_func(element)`` returns a dataset; their elements, one dataset after another."""
        parent = self

        def make():
            for element in parent._make():
                inner = _call(map_func, element)
                if not isinstance(inner, Dataset):
                    raise TypeError(f"flat_map's function must return a Dataset, got {type(inner).__name__}.")
                yield from inner._make()
        return Dataset(make, UNKNOWN, lambda: _peek_spec(self, lambda e: _call(map_func, e), flat=True))

    # ------------------------------------------------------------ reading
    def __iter__(self):
        return (map_structure(to_user, e) for e in self._make())

    def as_numpy_iterator(self):
        """The elements with NumPy values: arrays, and NumPy scalars for scalars."""
        return (map_structure(lambda a: a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a, e)
                for e in self._make())

    def _batches(self):
        """The elements as plain NumPy structures, for the training loop."""
        return self._make()

    @property
    def element_spec(self):
        """The type of an element: a TensorSpec, or a tuple/dict of them, as the element is structured."""
        if callable(self._spec):
            self._spec = self._spec()
        return self._spec

    def cardinality(self) -> Tensor:
        """The number of elements, INFINITE (-1), or UNKNOWN (-2) after filter() or from_generator()."""
        return Tensor._wrap(backend.xp.asarray(self._cardinality, dtype="int64"), False)

    def __len__(self):
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite (it repeats forever); it has no length. Bound it with take(n), "
                            "or pass steps_per_epoch to fit().")
        if self._cardinality == UNKNOWN:
            raise TypeError("The dataset length is unknown (after filter(), unbatch() or from_generator()); "
                            "iterate it to count its elements.")
        return self._cardinality

    def __bool__(self):
        return True

    def __getattr__(self, attr):
        if attr in _NOT_PROVIDED:
            raise NotImplementedError(f"Dataset.{attr} is a tf.data method that shendu's Python pipeline does not "
                                      f"provide. {_NOT_PROVIDED[attr]}")
        raise AttributeError(f"'Dataset' object has no attribute {attr!r}")

    def __repr__(self):
        return f"<Dataset element_spec={self.element_spec}>"

    # ------------------------------------------------------------ helpers
    def _derive(self, wrap, cardinality):
        """A dataset whose iterator is ``wrap(make)()`` of this one's, keeping the in-memory fast path."""
        if self._source is not None:
            return Dataset._indexed(self._source, wrap(self._make_indices), cardinality, self._spec)
        parent = self
        return Dataset(wrap(lambda: parent._make()), cardinality, lambda: parent.element_spec)


_NOT_PROVIDED = {
    "window": "Batch consecutive elements with batch() (or build the windows with NumPy).",
    "group_by_window": "Group the elements in Python, or sort them before batch().",
    "bucket_by_sequence_length": "Use padded_batch() on elements sorted by length.",
    "rejection_resample": "Resample the arrays with NumPy before from_tensor_slices().",
    "scan": "Compute the running state in a Python generator and use from_generator().",
    "snapshot": "Use cache(), which keeps the elements in memory.",
    "save": "Save the arrays with numpy.save and rebuild the dataset with from_tensor_slices().",
    "load": "Load arrays with numpy.load and use from_tensor_slices().",
    "with_options": "There are no options to set: the pipeline runs in Python, in the reading thread.",
    "options": "There are no options: the pipeline runs in Python, in the reading thread.",
    "ragged_batch": "Use padded_batch(); shendu has no ragged tensors.",
    "sparse_batch": "Use batch() on dense arrays; shendu has no sparse tensors.",
    "rebatch": "Use unbatch().batch(n).",
    "sample_from_datasets": "Mix the arrays with NumPy before from_tensor_slices().",
    "choose_from_datasets": "Choose the elements in a Python generator and use from_generator().",
    "random": "Use from_generator() with a NumPy generator.",
    "distribute": "shendu trains on one device.",
}


def _as_structure(value, like):
    """Lists where ``like`` has tuples become tuples (generators often yield lists)."""
    if isinstance(like, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(like, tuple) and isinstance(value, tuple) and len(like) == len(value):
        return tuple(_as_structure(v, l) for v, l in zip(value, like))
    if isinstance(like, dict) and isinstance(value, dict):
        return {k: _as_structure(value[k], like[k]) if k in like else value[k] for k in value}
    return value


def _per_leaf(spec, like) -> list:
    """One entry of ``spec`` (padded shapes or values, given per leaf of ``like``, or None) per leaf."""
    if spec is None:
        return [None] * len(leaves(like))
    if isinstance(like, tuple):
        return [v for part, sub in zip(spec, like) for v in _per_leaf(part, sub)]
    if isinstance(like, dict):
        return [v for key in like for v in _per_leaf(spec.get(key), like[key])]
    return [spec]


def _peek_spec(dataset, apply, flat=False):
    """The spec of a mapped dataset, found by running the function on the first element."""
    _peeking.active = True
    try:
        first = next(iter(dataset._make()))
    except StopIteration:
        return None
    finally:
        _peeking.active = False
    out = apply(first)
    if flat:
        return out.element_spec
    batched = all(s.shape and s.shape[0] is None for s in leaves(dataset.element_spec) if isinstance(s, TensorSpec))
    return map_structure(lambda a: TensorSpec((None,) + a.shape[1:] if batched and a.ndim else a.shape, a.dtype), out)
