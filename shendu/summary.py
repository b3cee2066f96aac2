"""``shendu.summary``: TensorBoard logs from a custom training loop, used as ``tf.summary`` is.

    writer = shendu.summary.create_file_writer("logs/run1")
    with writer.as_default(step=0):
        for step in range(100):
            shendu.summary.scalar("loss", loss, step=step)
            shendu.summary.histogram("dense/kernel", w, step=step)
    writer.flush()

Event files are written by TensorBoard's own writer and protocol buffers (the ``tensorboard`` package,
``pip install shendu[monitor]``), imported on first use so shendu runs without it. Scalars are stored
as ``simple_value``, histograms as ``HistogramProto``, images as PNG ``Summary.Image`` (grey, RGB or RGBA)
and text as a string tensor for TensorBoard's text plugin: every TensorBoard version and its
``EventAccumulator`` read them.
"""
from __future__ import annotations

import contextlib
import io
import os
import threading
import time

import numpy as np


def require_tensorboard():
    """TensorBoard's writer and protos, imported on first use: an optional dependency (the monitor extra)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError("TensorBoard logging needs the tensorboard package: pip install 'shendu[monitor]' "
                          "(or pip install tensorboard).") from e
    return event_pb2, summary_pb2, EventFileWriter


class _Default(threading.local):
    writer = None
    step = None


_default = _Default()


class SummaryWriter:
    """Writes summaries to an event file in ``logdir`` (made when missing). Use ``as_default()`` to make
    it the writer that ``scalar``/``histogram``/``image``/``text`` write to."""

    def __init__(self, logdir, max_queue: int = 10, flush_millis: int = 120_000, filename_suffix: str = ".v2"):
        event_pb2, _, EventFileWriter = require_tensorboard()
        self.logdir = str(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        self._writer = EventFileWriter(self.logdir, max_queue_size=max_queue, flush_secs=flush_millis / 1000,
                                       filename_suffix=filename_suffix)
        self._event = event_pb2.Event
        self._closed = False

    @contextlib.contextmanager
    def as_default(self, step: int | None = None):
        """Make this the default writer inside the block (with ``step`` as the default step)."""
        previous = (_default.writer, _default.step)
        _default.writer = self
        if step is not None:
            _default.step = int(step)
        try:
            yield self
        finally:
            _default.writer, _default.step = previous
            self.flush()

    def set_as_default(self, step: int | None = None) -> None:
        """Make this the default writer until another is set."""
        _default.writer = self
        if step is not None:
            _default.step = int(step)

    def init(self) -> None:
        """Nothing to do: the event file is opened when the writer is made (kept for tf.summary's API)."""

    def write(self, summary, step: int) -> None:
        """Append a ``Summary`` proto as an event at ``step``."""
        if self._closed:
            raise RuntimeError(f"This summary writer ({self.logdir}) is closed; create a new one to write more.")
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def write_event(self, event) -> None:
        """Append an ``Event`` proto as it is (a graph, a file version)."""
        if event.wall_time == 0:
            event.wall_time = time.time()
        self._writer.add_event(event)

    def flush(self) -> None:
        if not self._closed:
            self._writer.flush()

    def close(self) -> None:
        if not self._closed:
            self._writer.close()
            self._closed = True


def create_file_writer(logdir, max_queue: int | None = None, flush_millis: int | None = None,
                       filename_suffix: str | None = None, name: str | None = None,
                       experimental_trackable: bool = False) -> SummaryWriter:
    """A writer for the event file in ``logdir`` (``tf.summary.create_file_writer``)."""
    if experimental_trackable:
        raise ValueError("create_file_writer(experimental_trackable=True) is TensorFlow's checkpoint tracking, "
                         "which shendu does not have; leave it False.")
    return SummaryWriter(logdir, max_queue=10 if max_queue is None else max_queue,
                         flush_millis=120_000 if flush_millis is None else flush_millis,
                         filename_suffix=".v2" if filename_suffix is None else filename_suffix)


def create_noop_writer():
    """A writer that writes nothing (``tf.summary.create_noop_writer``)."""
    return _NoopWriter()


class _NoopWriter:
    @contextlib.contextmanager
    def as_default(self, step=None):
        previous = (_default.writer, _default.step)
        _default.writer = None
        try:
            yield self
        finally:
            _default.writer, _default.step = previous

    def set_as_default(self, step=None):
        _default.writer = None

    def init(self):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def flush(writer=None) -> None:
    """Flush ``writer`` (default: the current default writer)."""
    writer = writer or _default.writer
    if writer is not None:
        writer.flush()


def _writer_and_step(step, what):
    writer = _default.writer
    if writer is None:
        return None, None
    if step is None:
        step = _default.step
    if step is None:
        raise ValueError(f"summary.{what}: no step given and no default step set; pass step=... or use "
                         "writer.as_default(step=...).")
    return writer, int(step)


def _numpy(data):
    return np.asarray(data.numpy() if hasattr(data, "numpy") else data)


def _metadata(summary_pb2, plugin: str, description: str | None, content: bytes = b""):
    return summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin, content=content))


def scalar(name: str, data, step: int | None = None, description: str | None = None) -> bool:
    """Write a scalar; returns False when there is no default writer (as ``tf.summary.scalar``)."""
    writer, step = _writer_and_step(step, "scalar")
    if writer is None:
        return False
    value = _numpy(data)
    if value.size != 1:
        raise ValueError(f"summary.scalar({name!r}) expects one number, got an array of shape {value.shape}.")
    _, summary_pb2, _ = require_tensorboard()
    entry = summary_pb2.Summary.Value(tag=name, simple_value=float(value.reshape(())))
    if description:
        entry.metadata.CopyFrom(_metadata(summary_pb2, "scalars", description))
    writer.write(summary_pb2.Summary(value=[entry]), step)
    return True


def histogram(name: str, data, step: int | None = None, buckets: int | None = None,
              description: str | None = None) -> bool:
    """Write the distribution of ``data`` in ``buckets`` equal-width buckets (30 by default)."""
    writer, step = _writer_and_step(step, "histogram")
    if writer is None:
        return False
    values = _numpy(data).astype("float64").ravel()
    buckets = 30 if buckets is None else int(buckets)
    if buckets < 1:
        raise ValueError(f"summary.histogram: buckets must be >= 1, got {buckets}.")
    _, summary_pb2, _ = require_tensorboard()
    histo = summary_pb2.HistogramProto()
    if values.size:
        low, high = float(values.min()), float(values.max())
        counts, edges = np.histogram(values, bins=buckets, range=(low, high) if high > low else (low - 0.5, low + 0.5))
        histo.min, histo.max, histo.num = low, high, float(values.size)
        histo.sum, histo.sum_squares = float(values.sum()), float((values ** 2).sum())
        histo.bucket_limit.extend(float(e) for e in edges[1:])    # each bucket's right edge
        histo.bucket.extend(float(c) for c in counts)
    entry = summary_pb2.Summary.Value(tag=name, histo=histo)
    if description:
        entry.metadata.CopyFrom(_metadata(summary_pb2, "histograms", description))
    writer.write(summary_pb2.Summary(value=[entry]), step)
    return True


def encode_png(image) -> bytes:
    """An (h, w, c) uint8 array (c = 1, 3 or 4) as PNG bytes (Pillow, which matplotlib brings)."""
    from PIL import Image   # optional dependency, deferred on purpose (the monitor and plot extras bring it)

    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[-1]]
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if mode == "L" else image, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def image(name: str, data, step: int | None = None, max_outputs: int = 3, description: str | None = None) -> bool:
    """Write up to ``max_outputs`` images from ``data`` of shape (k, h, w, c), c in 1, 3, 4: floats in
    [0, 1] or uint8."""
    writer, step = _writer_and_step(step, "image")
    if writer is None:
        return False
    images = _numpy(data)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"summary.image({name!r}) expects (k, height, width, channels) with 1, 3 or 4 channels, "
                         f"got shape {images.shape}; add a batch axis with x[None] for one image.")
    if images.dtype != np.uint8:
        images = (np.clip(images.astype("float64"), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    _, summary_pb2, _ = require_tensorboard()
    values = []
    count = min(int(max_outputs), len(images))
    for i in range(count):
        k, h, w, c = (i, *images.shape[1:])
        tag = name if count == 1 else f"{name}/{i}"
        values.append(summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(
            height=h, width=w, colorspace=c, encoded_image_string=encode_png(images[k]))))
    if description and values:
        values[0].metadata.CopyFrom(_metadata(summary_pb2, "images", description))
    writer.write(summary_pb2.Summary(value=values), step)
    return True


def text(name: str, data, step: int | None = None, description: str | None = None) -> bool:
    """Write a string (Markdown is rendered by TensorBoard's text plugin)."""
    writer, step = _writer_and_step(step, "text")
    if writer is None:
        return False
    from tensorboard.plugins.text import metadata as text_metadata   # optional dependency, deferred on purpose
    from tensorboard.util import tensor_util

    _, summary_pb2, _ = require_tensorboard()
    value = data.numpy() if hasattr(data, "numpy") else data
    tensor = tensor_util.make_tensor_proto(np.asarray(value, dtype=object))
    meta = text_metadata.create_summary_metadata(display_name=name, description=description or "")
    writer.write(summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=name, metadata=meta, tensor=tensor)]),
                 step)
    return True
