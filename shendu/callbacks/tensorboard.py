"""``TensorBoard``: the logs of ``fit`` in tf.keras's layout, for the ``tensorboard`` command.

    log_dir/train/        epoch_loss, epoch_<metric>, epoch_learning_rate (step = epoch); batch_<name>
                          (step = global batch) when update_freq is "batch" or an integer; weight
                          histograms; the model graph; profiles under plugins/profile/
    log_dir/validation/   epoch_loss, epoch_<metric> from the val_* logs; evaluation_<name>_vs_iterations
    log_dir/projector_config.pbtxt and <layer>_embeddings.tsv when embeddings_freq is set

Event files are written through ``shendu.summary`` (TensorBoard's own writer); the profile is
``shendu.profiler``'s Trace Event JSON.
"""
from __future__ import annotations

import datetime
import json
import os

import numpy as np

from shendu import profiler as profiler_module
from shendu import summary
from shendu.callbacks.base import Callback
from shendu.utils.model_graph import model_graph, shape_text


def _profile_range(profile_batch):
    message = ("profile_batch must be a non-negative integer or a pair of positive integers (start, stop) "
               f"with start <= stop, e.g. profile_batch=(10, 20); got {profile_batch!r}.")
    if isinstance(profile_batch, str):
        try:
            profile_batch = [int(p) for p in profile_batch.split(",")]
        except ValueError:
            raise ValueError(message) from None
        profile_batch = profile_batch[0] if len(profile_batch) == 1 else profile_batch
    if isinstance(profile_batch, (int, np.integer)) and not isinstance(profile_batch, bool):
        start = stop = int(profile_batch)
    elif isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2:
        start, stop = (int(p) for p in profile_batch)
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    return start, stop


class TensorBoard(Callback):
    """Write what ``fit`` does to ``log_dir`` for TensorBoard (``tensorboard --logdir logs``).

    Args:
        log_dir: the folder of this run; ``train`` and ``validation`` are made inside.
        histogram_freq: every how many epochs to write weight histograms (0: never).
        write_graph: write the model's layers and their connections (TensorBoard's Graphs tab).
        write_images: also write each weight as an image with its histogram.
        write_steps_per_second: write the training speed (epoch_steps_per_second, batch_steps_per_second).
        update_freq: "epoch", "batch" (every batch) or an integer N (every N batches) for batch_<name> scalars.
        profile_batch: a batch number or (start, stop) of batches to profile with ``shendu.profiler``
            (global batch count, from 1); 0 turns profiling off.
        embeddings_freq: every how many epochs to write the Embedding layers' vectors for the Projector.
        embeddings_metadata: a file of labels for the embeddings, or ``{layer name: file}``.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer, got {update_freq!r}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch = profile_batch
        self._start_batch, self._stop_batch = _profile_range(profile_batch)
        self.embeddings_freq = int(embeddings_freq)
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._profiler = None
        self._epoch_start = self._batch_start = None
        self._epoch_batches = 0

    # ------------------------------------------------------------ writers
    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = summary.create_file_writer(os.path.join(self.log_dir, which))
        return self._writers[which]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ------------------------------------------------------------ the model graph
    def set_model(self, model):
        super().set_model(model)
        summary.require_tensorboard()       # at the start of fit: an error naming the monitor extra if it is missing
        self._writers = {}
        if self.write_graph:
            self._write_graph()
        if self.embeddings_freq:
            self._configure_embeddings()

    def _write_graph(self):
        """The layers as a GraphDef (one node per layer, inputs = the layers feeding it) and the model's
        config as the ``keras`` summary TensorBoard's Graphs tab reads."""
        from tensorboard.compat.proto import attr_value_pb2, event_pb2, graph_pb2, node_def_pb2, summary_pb2
        from tensorboard.util import tensor_util   # optional dependency (the monitor extra), deferred on purpose

        try:
            graph = model_graph(self.model, expand_nested=True)
        except ValueError:
            return                      # a subclassed model: its connections exist only in call(), as in Keras
        names = {k: "/".join(n.parents + (n.name,)) for k, n in graph.nodes.items()}
        inputs = {k: [] for k in graph.nodes}
        for a, b in graph.edges:
            inputs[b].append(names[a])
        nodes = [node_def_pb2.NodeDef(name=names[k], op=n.class_name, input=inputs[k],
                                      attr={"output_shape": attr_value_pb2.AttrValue(
                                          s=shape_text(n.output_shapes).encode())})
                 for k, n in graph.nodes.items()]
        writer = self._writer("train")
        writer.write_event(event_pb2.Event(step=0, graph_def=graph_pb2.GraphDef(node=nodes).SerializeToString()))
        try:
            config = json.dumps({"class_name": type(self.model).__name__, "config": self.model.get_config()},
                                default=str)
        except (NotImplementedError, TypeError, ValueError):
            return                      # a subclassed model without a config: the GraphDef above still shows it
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="graph_keras_model", content=b"1"))
        value = summary_pb2.Summary.Value(tag="keras", metadata=meta,
                                          tensor=tensor_util.make_tensor_proto(np.asarray(config, dtype=object)))
        writer.write(summary_pb2.Summary(value=[value]), 0)
        writer.flush()

    # ------------------------------------------------------------ training hooks
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = datetime.datetime.now()
        self._epoch_batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches += 1
        if self.write_steps_per_second:
            self._batch_start = datetime.datetime.now()
        if self._start_batch and self._global_train_batch == self._start_batch and self._profiler is None:
            self._profiler = profiler_module.profile()
            self._profiler.__enter__()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq != "epoch" and step % self.update_freq == 0:
            with self._writer("train").as_default(step=step):
                if self.write_steps_per_second and self._batch_start is not None:
                    seconds = (datetime.datetime.now() - self._batch_start).total_seconds()
                    summary.scalar("batch_steps_per_second", 1.0 / max(seconds, 1e-9))
                for name, value in (logs or {}).items():
                    if np.size(value) == 1:
                        summary.scalar(f"batch_{name}", value)
        if self._profiler is not None and step >= self._stop_batch:
            self._stop_profile()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second and self._epoch_start is not None:
            seconds = (datetime.datetime.now() - self._epoch_start).total_seconds()
            train["steps_per_second"] = self._epoch_batches / max(seconds, 1e-9)
        for which, values in (("train", train), ("validation", val)):
            if values:
                with self._writer(which).as_default(step=epoch):
                    for name, value in values.items():
                        if np.size(value) == 1:
                            summary.scalar(f"epoch_{name}", value)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not logs:
            return
        with self._writer("validation").as_default(step=int(optimizer.iterations)):
            for name, value in logs.items():
                if np.size(value) == 1:
                    summary.scalar(f"evaluation_{name}_vs_iterations", value)

    def on_train_end(self, logs=None):
        if self._profiler is not None:
            self._stop_profile()
        self._close_writers()

    # ------------------------------------------------------------ weights, images, embeddings, profile
    def _log_weights(self, epoch):
        with self._writer("train").as_default(step=epoch):
            for layer in self.model.layers:
                for w in layer.weights:
                    name = getattr(w, "path", None) or f"{layer.name}/{w.name}"
                    summary.histogram(f"{name}/histogram", w.numpy())
                    if self.write_images:
                        image = _weight_image(w.numpy())
                        if image is not None:
                            summary.image(f"{name}/image", image, max_outputs=len(image))
        self._writer("train").flush()

    def _embedding_layers(self):
        return [layer for layer in self.model.layers if type(layer).__name__ == "Embedding"]

    def _configure_embeddings(self):
        from google.protobuf import text_format   # optional dependencies (the monitor extra), deferred on purpose
        from tensorboard.plugins.projector import projector_config_pb2

        config = projector_config_pb2.ProjectorConfig()
        metadata = self.embeddings_metadata
        remaining = dict(metadata) if isinstance(metadata, dict) else {}
        for layer in self._embedding_layers():
            entry = config.embeddings.add()
            entry.tensor_name = f"{layer.name}/embeddings"
            entry.tensor_path = f"{layer.name}_embeddings.tsv"
            if isinstance(metadata, str):
                entry.metadata_path = metadata
            elif layer.name in remaining:
                entry.metadata_path = remaining.pop(layer.name)
        if remaining:
            raise ValueError(f"TensorBoard(embeddings_metadata=...) names layers that are not Embedding layers of "
                             f"this model: {sorted(remaining)}; Embedding layers: "
                             f"{[layer.name for layer in self._embedding_layers()]}.")
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))

    def _log_embeddings(self):
        for layer in self._embedding_layers():
            vectors = layer.weights[0].numpy()
            np.savetxt(os.path.join(self.log_dir, f"{layer.name}_embeddings.tsv"), vectors, delimiter="\t",
                       fmt="%.6g")

    def _stop_profile(self):
        prof, self._profiler = self._profiler, None
        prof.__exit__(None, None, None)
        prof.export_tensorboard(os.path.join(self.log_dir, "train"))
        table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=20)
        with self._writer("train").as_default(step=self._stop_batch):
            summary.text(f"profile/batch_{self._start_batch}_{self._stop_batch}", "```\n" + table + "```")
        self.last_profile = prof     # the profiler of the last profiled range, for a look in Python


def _weight_image(w):
    """A weight as images (k, h, w, 1) scaled to [0, 1], as tf.keras draws them; None for 4-D and up."""
    w = np.squeeze(w)
    if w.ndim == 1:
        w = w.reshape(1, 1, -1, 1)
    elif w.ndim == 2:
        w = (w.T if w.shape[0] > w.shape[1] else w)[None, :, :, None]
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))[..., None]
    else:
        return None
    low, high = float(w.min()), float(w.max())
    return (w - low) / (high - low) if high > low else np.zeros_like(w)
