"""The ``.keras`` file (Keras 3's native format) and ``.weights.h5`` files, both ways.

A ``.keras`` file is a zip archive of three members::

    metadata.json       {"keras_version": "3.x", "date_saved": "2025-01-31@12:00:00"}
    config.json         the model's config: {"module", "class_name", "config", "registered_name",
                        "build_config", "compile_config"} (see ``shendu.models.config``)
    model.weights.h5    every variable, at Keras 3's group paths (see ``weights_h5``)
    assets/...          non-array state such as an adapted vocabulary (only when there is some)

Files are written atomically: to a temporary file beside the target, flushed and fsync'ed, then
moved over it with ``os.replace``, so an interrupted save never destroys the previous file.
"""
from __future__ import annotations

import contextlib
import datetime
import inspect
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
import zlib

try:
    import fcntl            # POSIX file locks, which tell a live save's temporary file from a killed one's
except ImportError:         # Windows: an open file cannot be deleted, which serves the same purpose
    fcntl = None

from shendu import backend, optimizers
from shendu.saving import limits, weights_h5
from shendu.saving.config import Context, LoadError, deserialize_keras_object, serialize_keras_object, serialize_layer

KERAS_VERSION = "3.15.1"        # the Keras 3 release whose format is matched (written into metadata.json)
CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE = "config.json", "metadata.json", "model.weights.h5"


# ----------------------------------------------------------------------------------- atomic writes

def write_atomically(filepath, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``filepath`` so that readers see either the old file or the new one, whole.

    The bytes go to a hidden ``.<name>.XXXXXXXX.tmp`` beside the target, locked while it is written;
    temporary files of the same target left by a killed save (unlocked) are removed first."""
    if hasattr(filepath, "write"):                  # an open binary file object, e.g. io.BytesIO
        filepath.write(data)
        return
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} already exists and overwrite=False; pass overwrite=True to replace it "
                              "or choose another name.")
    directory = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(directory, os.path.basename(path))
    f, tmp = _locked_temporary(path, directory)
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())                   # the bytes are on disk before the name points at them
            with contextlib.suppress(OSError):     # mkstemp makes the file private (0600): use the usual mode
                os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else _default_mode())
            os.replace(tmp, path)                  # still locked: no other save takes it for a stale file
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):   # make the rename itself durable (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _locked_temporary(path: str, directory: str):
    """A new hidden temporary file beside ``path``, open for writing and locked (where the system can)."""
    for _ in range(3):
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        except OSError as e:                       # name the folder, not the temporary file that was refused
            raise type(e)(e.errno, f"Cannot save {path!r}: no file can be created in the folder {directory!r} "
                          f"({e.strerror}). Check that the folder exists and is writable, or save elsewhere.",
                          directory) from e
        if fcntl is None:
            return os.fdopen(fd, "wb"), tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:                            # a file system without locks: no save there can take
            return os.fdopen(fd, "wb"), tmp        # this file for stale either, since that needs the lock
        if os.fstat(fd).st_nlink > 0:              # not taken for stale between mkstemp and the lock
            return os.fdopen(fd, "wb"), tmp
        os.close(fd)
    raise OSError(f"Cannot save {path!r}: the temporary files in {directory!r} keep disappearing; another "
                  "program is deleting them.")


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Delete the temporary files of this target that no running save holds (left by a killed save)."""
    pattern = re.compile(rf"\.{re.escape(base)}\.[a-z0-9_]{{8}}\.tmp")      # mkstemp's 8 random characters
    try:
        names = [n for n in os.listdir(directory) if pattern.fullmatch(n)]
    except OSError:
        return
    for name in names:
        full = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if fcntl is None:                      # Windows: a file still open in a running save cannot be deleted
                os.remove(full)
                continue
            fd = os.open(full, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)    # fails while a live save holds it
                os.remove(full)
            finally:
                os.close(fd)


def _default_mode() -> int:
    """0o666 less the process umask: the mode open() would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _name(filepath) -> str:
    return repr(os.fspath(filepath)) if not hasattr(filepath, "read") else "the file object"


def _ends(filepath, *suffixes) -> bool:
    return not hasattr(filepath, "read") and os.fspath(filepath).lower().endswith(suffixes)


# ----------------------------------------------------------------------------------- config

def model_config(model) -> dict:
    """The dict Keras 3 writes to config.json: the model's serialized config plus compile_config."""
    entry = serialize_layer(model)
    compile_config = compile_config_of(model)
    if compile_config is not None:
        entry["compile_config"] = compile_config
    return entry


def compile_config_of(model):
    """Keras 3's ``get_compile_config()``: compile()'s arguments, serialized; None if not compiled."""
    if not getattr(model, "_compiled", False):
        return None
    names = model._output_names()

    def per_output(specs):
        if len(names) == 1:
            return specs[0]
        if all(s is None for s in specs):
            return None
        return {n: s for n, s in zip(names, specs)}

    weights = list(getattr(model, "_loss_weights", []) or [])
    return {"optimizer": optimizers.serialize(model.optimizer) if model.optimizer is not None else None,
            "loss": serialize_keras_object(model.loss),
            "loss_weights": None if all(w == 1.0 for w in weights) else weights,
            "metrics": serialize_keras_object(per_output(model._metric_specs)),
            "weighted_metrics": serialize_keras_object(per_output(model._weighted_specs)),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def compile_from_config(model, config: dict, ctx: Context) -> None:
    """Keras 3's ``compile_from_config``: rebuild optimizer, loss and metrics, then compile."""
    from shendu.models.training import Trainer
    if type(model).compile is not Trainer.compile:
        warnings.warn(f"compile() was not called while loading '{model.name}': its class overrides compile(), whose "
                      "arguments the file does not hold. Call model.compile(...) after loading.", stacklevel=3)
        return
    args = {}
    if config.get("optimizer") is not None:
        args["optimizer"] = deserialize_keras_object(config["optimizer"], ctx, kind="optimizer")
    for key, kind in (("loss", "loss"), ("metrics", "metric"), ("weighted_metrics", "metric")):
        value = config.get(key)
        if value is not None:
            args[key] = _deserialize_spec(value, ctx, kind)
    if config.get("loss_weights") is not None:
        args["loss_weights"] = config["loss_weights"]
    accepted = set(inspect.signature(model.compile).parameters)
    args.update({k: v for k, v in config.items() if k not in args and k in accepted and k not in
                 ("optimizer", "loss", "metrics", "weighted_metrics", "loss_weights")})
    model.compile(**args)


def _deserialize_spec(value, ctx, kind):
    """A loss/metric spec keeps its shape (name, list, dict by output); objects inside are rebuilt."""
    if isinstance(value, str):
        return ctx.custom(value) or value
    if isinstance(value, list):
        return [_deserialize_spec(v, ctx, kind) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_spec(v, ctx, kind) for k, v in value.items()}
    return deserialize_keras_object(value, ctx, kind=kind)


# ----------------------------------------------------------------------------------- save

def save_model(model, filepath, overwrite: bool = True, zipped=None, include_optimizer: bool = True,
               **kwargs) -> None:
    """Save the whole model (architecture, weights, compile state, optimizer state) as a ``.keras`` file,
    or, for an ``.h5``/``.hdf5`` path, as tf.keras 2's legacy HDF5 file (with Keras 3's warning).

    ``format="tf_keras"`` (shendu's own option) writes the ``.keras`` file in tf.keras 2.13+'s schema
    instead of Keras 3's, for readers that only have tf.keras 2."""
    save_format = kwargs.pop("save_format", None)
    file_format = kwargs.pop("format", "keras")
    if file_format not in ("keras", "tf_keras"):
        raise ValueError(f"format={file_format!r} is not a format shendu writes: 'keras' (the default, Keras 3's "
                         "'.keras' file) or 'tf_keras' (a '.keras' file in tf.keras 2.13+'s schema).")
    if kwargs:
        raise TypeError(f"save_model got unexpected argument(s) {sorted(kwargs)}.")
    if save_format:     # tf.keras 2 tutorials pass it; Keras 3 lets the extension decide
        if hasattr(filepath, "write") or _ends(filepath, ".keras") or _ends(filepath, ".h5") or _ends(filepath, ".hdf5"):
            warnings.warn("The `save_format` argument is deprecated in Keras 3 and ignored: the file extension "
                          "decides the format ('.keras', or the legacy '.h5').", stacklevel=3)
        else:
            raise ValueError(f"save_format={save_format!r} is not supported: Keras 3 saves whole models to a "
                             f"'.keras' file (or the legacy '.h5'), chosen by the extension; got {_name(filepath)}. "
                             "TensorFlow's SavedModel directories do not exist here.")
    if zipped is False:
        raise ValueError("zipped=False (a directory instead of a zip) is not supported; save to a '.keras' file.")
    from shendu.saving import legacy_h5
    if legacy_h5.is_legacy_target(filepath):        # '.h5' / '.hdf5': Keras 3's legacy HDF5 file, with a warning
        return legacy_h5.save_legacy_model(model, filepath, overwrite, include_optimizer)
    if not hasattr(filepath, "write") and not _ends(filepath, ".keras"):
        raise ValueError(f"Invalid filepath {_name(filepath)}: a whole model is saved in Keras 3's native format, "
                         "which requires the '.keras' extension, e.g. model.save('model.keras') (or the legacy "
                         "'.h5' format). To save only the weights use model.save_weights('model.weights.h5').")
    if not model.built:
        warnings.warn(f"Saving model '{model.name}', which has not been built yet: the file holds no weights. "
                      "Build it first (call it on data, or start with an Input) to save its weights.", stacklevel=3)
    if file_format == "tf_keras":
        from shendu.saving import tf_keras
        return tf_keras.save_archive(model, filepath, overwrite, include_optimizer)
    config_json = json.dumps(model_config(model))
    metadata_json = json.dumps({"keras_version": KERAS_VERSION,
                                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(METADATA_FILE, metadata_json)
        zf.writestr(CONFIG_FILE, config_json)
        zf.writestr(WEIGHTS_FILE, weights_h5.weights_bytes(model, include_optimizer))
        for member, data in weights_h5.asset_members(model).items():
            zf.writestr(member, data)
    write_atomically(filepath, buffer.getvalue(), overwrite)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Save every variable (and the optimizer's state) to a ``.weights.h5`` file, Keras 3's layout."""
    legacy = not hasattr(filepath, "write") and not _ends(filepath, ".weights.h5") and _ends(filepath, ".h5", ".hdf5")
    if not _ends(filepath, ".weights.h5") and not hasattr(filepath, "write") and not legacy:
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={os.fspath(filepath)}. Keras 3 "
                         "requires weight files to end in '.weights.h5', e.g. model.save_weights('model.weights.h5'). "
                         "To save the whole model (architecture too) use model.save('model.keras').")
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built yet, so it has no weights to save. Build it "
                         "first: call it on a batch of data, or give the first layer an input shape.")
    if legacy:
        # tf.keras 2 tutorials write model.save_weights('name.h5'); Keras 3 refuses that name. shendu writes
        # tf.keras 2's weights-only HDF5 file instead, which load_weights (here and in Keras 3) reads.
        warnings.warn(f"{os.fspath(filepath)}: Keras 3 names weight files '*.weights.h5'; writing tf.keras 2's legacy "
                      "HDF5 weights file for this '.h5' name.", stacklevel=3)
        from shendu.saving import legacy_h5
        buffer = io.BytesIO()
        with weights_h5.h5py.File(buffer, "w") as f:
            legacy_h5.write_legacy_weights(f, model)
        write_atomically(filepath, buffer.getvalue(), overwrite)
        return
    write_atomically(filepath, weights_h5.weights_bytes(model), overwrite)


# ----------------------------------------------------------------------------------- load

def open_h5(filepath, name: str, what: str):
    """An HDF5 file opened for reading, or an error naming the file and what it should have been."""
    if not hasattr(filepath, "read") and not os.path.exists(os.fspath(filepath)):
        raise FileNotFoundError(f"No file at {name}. Check the path (relative paths start at {os.getcwd()!r}).")
    try:
        return _h5py().File(filepath, "r")
    except OSError as e:
        raise LoadError(f"{name} is not a readable HDF5 file ({e}); it is truncated or not {what}.") from e


def _open_archive(filepath):
    """The zip archive, or a LoadError saying why the file is not a usable ``.keras`` file."""
    name = _name(filepath)
    if not hasattr(filepath, "read") and not os.path.exists(os.fspath(filepath)):
        raise FileNotFoundError(f"No file at {name}. Check the path (relative paths start at {os.getcwd()!r}).")
    try:
        return zipfile.ZipFile(filepath, "r")
    except zipfile.BadZipFile as e:
        raise LoadError(f"{name} is not a valid .keras file: it is not a readable zip archive ({e}). The file is "
                        "truncated (an interrupted download or copy) or is not a Keras 3 '.keras' file at all; "
                        "a legacy whole-model file ends in '.h5'.") from e


def _read_member(archive, member: str, name: str, what: str) -> bytes:
    if member not in archive.namelist():
        raise LoadError(f"{name} is missing '{member}' ({what}); the archive holds {sorted(archive.namelist())}. "
                        "A .keras file needs config.json and model.weights.h5: the file is damaged or was not "
                        "written by Keras 3 / shendu.")
    limits.check_member_expansion(archive.getinfo(member), f"{name} ({member})")
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise LoadError(f"{name}: '{member}' cannot be read ({e}); the file is truncated or damaged.") from e


def _h5py():
    if weights_h5.h5py is None:
        raise ImportError("Reading Keras weight files needs h5py (they are HDF5): pip install h5py, or "
                          "pip install 'shendu[h5]'.")
    return weights_h5.h5py


def _h5_from_bytes(data: bytes, name: str, member: str):
    h5py = _h5py()
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise LoadError(f"{name}: '{member}' is not a readable HDF5 file ({e}); the file is damaged.") from e


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved by ``model.save('name.keras')`` in shendu or Keras 3.

    The architecture is rebuilt from classes in shendu's registries or ``custom_objects`` only (no
    module named in the file is imported, nothing is unpickled or evaluated); then the weights, the
    compile state and the optimizer's state (slots and iteration count), so training resumes exactly.
    """
    name = _name(filepath)
    if _ends(filepath, ".weights.h5"):
        raise ValueError(f"{name} holds weights only, not a model. Build the model in code, then call "
                         "model.load_weights(path).")
    if _ends(filepath, ".h5", ".hdf5"):
        from shendu.saving.legacy_h5 import load_legacy_model
        return load_legacy_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    if not hasattr(filepath, "read") and not _ends(filepath, ".keras"):
        raise ValueError(f"File format not supported: {name}. Keras 3 (and shendu) load '.keras' files (and legacy "
                         "'.h5' files); weights alone ('.weights.h5') go through model.load_weights.")
    with _open_archive(filepath) as archive:
        if CONFIG_FILE in archive.namelist():     # the size the archive declares bounds what is inflated
            limits.check_config_size(archive.getinfo(CONFIG_FILE).file_size, f"{name} ({CONFIG_FILE})")
        raw = _read_member(archive, CONFIG_FILE, name, "the model's architecture")
        weights = _read_member(archive, WEIGHTS_FILE, name, "the model's weights")
        assets = {m: _read_member(archive, m, name, "an asset") for m in archive.namelist()
                  if m.startswith("assets/") and not m.endswith("/")}
    if b"_query_dense" in weights:          # tf.keras 2's name for MultiHeadAttention's projections
        from shendu.saving import tf_keras_read
        weights = tf_keras_read.attention_weights_from_file(weights, name)
    config = limits.parse_config_json(raw, f"{name}: {CONFIG_FILE}")
    ctx = Context(custom_objects, safe_mode, source=f"{name} (config.json)")
    # rebuilding draws initial weights that are overwritten at once: keep the global random stream
    # untouched so that a resumed fit() shuffles and drops out exactly as an uninterrupted one would
    rng_state = _rng_state(backend)
    try:
        from shendu.models.config import model_from_config
        model = model_from_config(config, custom_objects=ctx)
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"], ctx)
    finally:
        _restore_rng(backend, rng_state)
    with _h5_from_bytes(weights, name, WEIGHTS_FILE) as f:
        weights_h5.read_weights(model, f, f"{name} ({WEIGHTS_FILE})", load_optimizer=compile)
    weights_h5.load_asset_members(model, assets)
    return model


def _rng_state(backend):
    try:
        return backend.rng, backend.rng.bit_generator.state
    except AttributeError:
        return None


def _restore_rng(backend, saved):
    if saved is None:
        return
    rng, state = saved
    rng.bit_generator.state = state
    backend.rng = rng


def load_weights(model, filepath, skip_mismatch: bool = False) -> None:
    """Load weights saved by ``save_weights`` (``.weights.h5``) or inside a ``.keras`` file, from
    shendu or Keras 3; also legacy tf.keras ``.h5`` weight files (matched layer by layer)."""
    _h5py()                                  # a clear error up front when h5py is missing
    name = _name(filepath)
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built yet, so there is nothing to load weights into. "
                         "Build it first: call it on a batch of data, or give the first layer an input shape.")
    if _ends(filepath, ".keras"):
        with _open_archive(filepath) as archive:
            data = _read_member(archive, WEIGHTS_FILE, name, "the model's weights")
        with _h5_from_bytes(data, name, WEIGHTS_FILE) as f:
            weights_h5.read_weights(model, f, f"{name} ({WEIGHTS_FILE})", skip_mismatch)
        return
    if not _ends(filepath, ".h5", ".hdf5") and not hasattr(filepath, "read"):
        raise ValueError(f"Invalid filepath {name}: load_weights reads '.weights.h5' files (or the weights inside "
                         "a '.keras' file, or legacy '.h5' weight files).")
    with open_h5(filepath, name, "a weights file") as f:
        weights_h5.read_weights(model, f, name, skip_mismatch)
