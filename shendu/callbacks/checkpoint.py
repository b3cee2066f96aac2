"""Saving during ``fit``: ``ModelCheckpoint`` (keep the model, or the best one) and ``BackupAndRestore``
(resume an interrupted ``fit`` from its last finished epoch)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings

import numpy as np

from shendu.callbacks.base import Callback
from shendu.callbacks.monitor import MonitorCallback
from shendu.saving.files import write_atomically


def _check_save_freq(save_freq):
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
        raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or an integer "
                         "number of batches.")


class _BatchCounter:
    """Counts batches across epochs for ``save_freq=N``: True every N batches."""

    def __init__(self, every: int):
        self.every = every
        self.since_save = 0
        self.last = None

    def tick(self, batch: int) -> bool:
        # batch indices restart at 0 each epoch, so a smaller index means a new epoch began
        self.since_save += batch + 1 if self.last is None or batch <= self.last else batch - self.last
        self.last = batch
        if self.since_save >= self.every:
            self.since_save = 0
            return True
        return False


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) at each epoch end, or every ``save_freq`` batches.

    ``filepath`` may hold format fields filled from the epoch (from 1) and the logs, e.g.
    ``'ckpt/model-{epoch:02d}-{val_loss:.2f}.keras'`` → ``ckpt/model-03-0.41.keras``.

    Args:
        filepath: ends in '.keras' (whole model), or '.weights.h5' with ``save_weights_only=True``.
        monitor: logs key deciding "best" for ``save_best_only``.
        verbose: 1 prints each save or skip.
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: call ``model.save_weights`` instead of ``model.save``.
        mode: 'auto', 'min' or 'max'.
        save_freq: 'epoch', or an integer number of batches between saves.
        initial_value_threshold: the value the first save must beat (with ``save_best_only``).
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        _check_save_freq(save_freq)
        self.save_freq = save_freq
        self._batches = _BatchCounter(save_freq) if save_freq != "epoch" else None
        self._current_epoch = 0
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                             f"end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith((".keras", ".h5")):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). Received: "
                             f"filepath={self.filepath}; for weights only, pass save_weights_only=True and a "
                             "name ending in `.weights.h5`.")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.tick(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _get_file_path(self, epoch, batch, logs) -> str:
        logs = logs or {}
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}; the fields '
                           f"available are {sorted(fields)}.") from None

    def _should_save(self, epoch, logs, filepath) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                          "Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model "
                      f"to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                                    f"is an existing directory: {filepath}")
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")


def _sha256(path) -> str | None:
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class BackupAndRestore(Callback):
    """Back up the weights and the epoch count to ``backup_dir`` as training goes; a later ``fit`` with the
    same callback loads them and continues from the next epoch. The backup is deleted when ``fit``
    finishes (``delete_checkpoint=True``).

    Args:
        backup_dir: folder for 'latest.weights.h5' and 'training_metadata.json'.
        save_freq: 'epoch', or an integer number of batches between backups.
        double_checkpoint: keep the previous backup as '*.bkp', used if the latest one cannot be read.
        delete_checkpoint: remove ``backup_dir`` when training completes.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed; give a folder such as '/tmp/backup'.")
        _check_save_freq(save_freq)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches = _BatchCounter(save_freq) if save_freq != "epoch" else None
        self._current_epoch = 0
        self._last_batch_seen = 0
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._pending_path = os.path.join(self.backup_dir, "pending.weights.h5")

    def on_train_begin(self, logs=None):
        try:
            self._load()
        except OSError:
            if not os.path.exists(self._weights_path + ".bkp"):
                raise
            for path in (self._weights_path, self._metadata_path):     # fall back to the previous backup
                if os.path.exists(path + ".bkp"):
                    shutil.copyfile(path + ".bkp", path)
                elif os.path.exists(path):
                    os.remove(path)
            self._load()

    def _load(self):
        if not getattr(self.model, "built", True):
            raise ValueError(f"To use the BackupAndRestore callback, your model must be built before you call "
                             f"fit(). Model {self.model.name} is unbuilt; build it by calling it on a batch of "
                             "data, or give it an Input.")
        metadata = None
        if os.path.exists(self._metadata_path):
            with open(self._metadata_path) as f:
                metadata = json.load(f)
        weights = self._weights_path
        if metadata and metadata.get("sha256") and _sha256(weights) != metadata["sha256"]:
            # killed after the metadata of a new backup was committed, before its weights replaced the
            # old ones: the new weights wait, whole, in the pending file the metadata names
            if _sha256(self._pending_path) == metadata["sha256"]:
                weights = self._pending_path
        if os.path.exists(weights):
            self.model.load_weights(weights)
        if metadata:
            self.model._initial_epoch = metadata["epoch"]   # fit() starts from this epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._batches is not None and self._batches.tick(batch):
            self._last_batch_seen = batch
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def _save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for path in (self._weights_path, self._metadata_path):
                if os.path.exists(path):
                    shutil.copyfile(path, path + ".bkp")
        # weights and epoch must change together, though a kill may land anywhere: the new weights go to
        # 'pending.weights.h5' first, the metadata (naming their digest) commits them, then they replace
        # 'latest'. A kill before the commit leaves the old pair; after it, _load finds them by their digest.
        self.model.save_weights(self._pending_path, overwrite=True)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                    "sha256": _sha256(self._pending_path)}
        write_atomically(self._metadata_path, json.dumps(metadata).encode())
        os.replace(self._pending_path, self._weights_path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
