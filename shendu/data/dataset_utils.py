"""Datasets built from files and arrays, as ``keras.utils`` builds them: text files in one folder
per class, and sliding windows over a time series.

Both return a ``shendu.data.Dataset`` of batches, ready for ``fit``. File order, the split between
training and validation and the window positions follow Keras (the same ``seed`` picks the same
files); the element shuffle inside the dataset uses shendu's generator, not TensorFlow's.
"""
from __future__ import annotations

import os

import numpy as np

from shendu.data.dataset import Dataset

LABEL_MODES = ("int", "categorical", "binary", None)


def _check_split(validation_split, subset, shuffle, seed):
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if bool(validation_split) != bool(subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and the other way round: pass "
                         "validation_split=0.2, subset='training' (or 'validation', or 'both').")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f"`subset` must be 'training', 'validation' or 'both', received: {subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError("With `validation_split` and shuffling, pass a `seed` so that the training and validation "
                         "subsets are drawn from the same file order and do not overlap.")


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False,
                    verbose=True):
    """(file paths, integer labels, class names): one class per subfolder (sorted by name), the files of
    each in sorted walk order, then all shuffled together with ``seed`` when ``shuffle``."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"No folder {directory!r}: pass the folder that holds one subfolder per class.")
    if labels == "inferred":
        subdirs = sorted(d for d in os.listdir(directory)
                         if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError(f"The `class_names` passed do not match the subfolders of {directory!r}: expected "
                                 f"{subdirs} (or a subset), received class_names={class_names}")
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError("`class_names` can only be given with labels='inferred'; with explicit labels the "
                             "class names are the sorted labels.")
        subdirs = [""]
    paths, found = [], []
    for index, subdir in enumerate(subdirs):
        root_dir = os.path.join(directory, subdir)
        walk = sorted(os.walk(root_dir, followlinks=follow_links), key=lambda entry: entry[0])
        for root, _, files in walk:
            for name in sorted(files):
                if name.lower().endswith(formats):
                    paths.append(os.path.join(root, name))
                    found.append(index)
    if labels == "inferred":
        labels, names = np.asarray(found, dtype="int32"), subdirs
    elif labels is None:
        names = None
    else:
        if len(labels) != len(paths):
            raise ValueError(f"`labels` has {len(labels)} entries but {len(paths)} files were found in {directory!r}; "
                             f"give one label per file, in sorted path order.")
        names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if verbose:
        print(f"Found {len(paths)} files" + ("." if names is None else f" belonging to {len(names)} classes."))
    if shuffle:      # Keras's order: one RandomState(seed) shuffle of the paths, the same one of the labels
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return paths, labels, names


def _split(paths, labels, validation_split, subset):
    if not validation_split:
        return paths, labels
    n_val = int(validation_split * len(paths))
    part = slice(None, len(paths) - n_val) if subset == "training" else slice(len(paths) - n_val, None)
    print(f"Using {n_val if subset == 'validation' else len(paths) - n_val} files for {subset}.")
    return paths[part], None if labels is None else labels[part]


def _encode_labels(labels, label_mode, num_classes):
    if label_mode == "binary":
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[labels]
    return labels.astype("int32")


def dataset_from_files(directory, labels, label_mode, formats, read, class_names, batch_size, shuffle, seed,
                       validation_split, subset, follow_links, format, verbose, empty_message, file_paths=False):
    """The Dataset (or [training, validation] for subset='both') of ``read(path)`` for the files of
    ``directory`` ending in ``formats``, paired with their encoded labels unless there are none.
    Arguments as in ``text_dataset_from_directory``; ``file_paths`` sets the paths on each result."""
    if format != "tf":
        raise ValueError(f"format={format!r}: shendu builds its own Dataset; leave format='tf'.")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of 'int', 'categorical', 'binary' or None, received: "
                         f"{label_mode!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    _check_split(validation_split, subset, shuffle, seed)
    seed = np.random.randint(1e6) if seed is None else seed
    paths, labels, names = index_directory(directory, labels, formats, class_names, shuffle, seed, follow_links,
                                           verbose)
    if label_mode == "binary" and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, found class_names={names}")

    def build(subset_paths, subset_labels, shuffled):
        if not subset_paths:
            raise ValueError(empty_message)
        buffer = batch_size * 8 if batch_size is not None else 1024
        if subset_labels is None:
            ds = Dataset.from_tensor_slices(np.array(subset_paths, dtype=str))
            ds = (ds.shuffle(buffer, seed=seed) if shuffled else ds).map(read)
        else:
            encoded = _encode_labels(np.asarray(subset_labels), label_mode, len(names))
            ds = Dataset.from_tensor_slices((np.array(subset_paths, dtype=str), encoded))
            ds = (ds.shuffle(buffer, seed=seed) if shuffled else ds).map(lambda p, y: (read(p), y))
        ds = ds.batch(batch_size) if batch_size is not None else ds
        ds.class_names = names
        if file_paths:
            ds.file_paths = list(subset_paths)
        return ds

    if subset == "both":
        train = _split(paths, labels, validation_split, "training")
        val = _split(paths, labels, validation_split, "validation")
        return [build(*train, shuffle), build(*val, False)]
    return build(*_split(paths, labels, validation_split, subset), shuffle)


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """A Dataset of (texts, labels) batches from ``directory/<class>/*.txt``; texts are str (TensorFlow
    gives bytes) and ``max_length`` keeps the first characters of each. ``class_names`` is set on the
    result; subset='both' returns [training, validation]."""
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError("`labels` must be 'inferred', None, or a list/tuple of integer labels, one per file.")

    def read(path):
        with open(str(path), encoding="utf-8") as f:
            text = f.read()
        return np.array(text if max_length is None else text[:max_length])

    return dataset_from_files(directory, labels, label_mode, (".txt",), read, class_names, batch_size, shuffle, seed,
                              validation_split, subset, follow_links, format, verbose,
                              f"No text files found in directory {directory!r}. Allowed format: .txt")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
                                  shuffle=False, seed=None, start_index=None, end_index=None, format="tf"):
    """Windows over a time series: sequence k is data[s, s + r, ..., s + (sequence_length - 1) r] for
    the k-th start s (every ``sequence_stride`` steps from ``start_index``), its target targets[s].

    Example: data = np.arange(100); timeseries_dataset_from_array(data[:-10], data[10:], 10) gives
    first the sequence 0..9 with target 10.
    """
    n = len(data)
    if format != "tf":
        raise ValueError(f"format={format!r}: shendu builds its own Dataset; leave format='tf'.")
    if start_index is not None and not 0 <= start_index < n:
        raise ValueError(f"`start_index` must be in [0, len(data)={n}), received: start_index={start_index}")
    if end_index is not None and not ((start_index or 0) < end_index < n):
        raise ValueError(f"`end_index` must be higher than start_index ({start_index or 0}) and lower than "
                         f"len(data)={n}, received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if not 0 < value < n:
            raise ValueError(f"`{name}` must be higher than 0 and lower than len(data)={n}, received: {name}={value}")
    start = start_index or 0
    end = n if end_index is None else end_index
    steps = np.asarray(data)[start:end]
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
        target_steps = np.asarray(targets)[start:end]
    starts = np.arange(0, max(num_seqs, 0), sequence_stride, dtype="int64")
    if shuffle:
        seed = np.random.randint(1e6) if seed is None else seed
        np.random.RandomState(seed).shuffle(starts)
    window = np.arange(sequence_length) * sampling_rate
    ds = Dataset.from_tensor_slices(starts)
    if shuffle:
        ds = ds.shuffle(batch_size * 8 if batch_size is not None else 1024, seed=seed)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    if targets is None:
        return ds.map(lambda s: steps[np.asarray(s)[..., None] + window])
    return ds.map(lambda s: (steps[np.asarray(s)[..., None] + window], target_steps[np.asarray(s)]))
