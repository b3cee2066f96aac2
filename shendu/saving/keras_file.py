"""The ``.keras`` file (Keras 3's native format) and ``.weights.h5`` files, both ways.

A ``.keras`` file is a zip archive of three members::

    metadata.json       {"keras_version": "3.x", "date_saved": "2025-01-31@12:00:00"}
    config.json         the model's config: {"module", "class_name", "config", "registered_name",
                        "build_config", "compile_config"} (``config.serialize_layer``; a model's
                        own ``get_config()`` lists its layers)
    model.weights.h5    every variable, at Keras 3's group paths (see ``weights_h5``)
    assets/...          non-array state such as an adapted vocabulary (only when there is some)

Files are written atomically (``files.write_atomically``). This module picks the format by the
file's name and sits above the others: ``.h5`` goes to ``legacy_h5``, ``format='tf_keras'`` to
``tf_keras``.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
import zlib

from shendu import backend
from shendu.saving import legacy_h5, legacy_layout, limits, tf_keras, tf_keras_read, weights_h5
from shendu.saving.compile_config import compile_config_of, compile_from_config
from shendu.saving.config import Context, LoadError, deserialize_model, serialize_layer
from shendu.saving.files import (CONFIG_FILE, KERAS_VERSION, METADATA_FILE, WEIGHTS_FILE, h5_from_bytes,  # noqa: F401
                                 open_h5, require_h5py, write_atomically)
from shendu.saving.files import ends, source_name


# ----------------------------------------------------------------------------------- config

def model_config(model) -> dict:
    """The dict Keras 3 writes to config.json: the model's serialized config plus compile_config."""
    entry = serialize_layer(model)
    compile_config = compile_config_of(model)
    if compile_config is not None:
        entry["compile_config"] = compile_config
    return entry


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
        if hasattr(filepath, "write") or ends(filepath, ".keras") or ends(filepath, ".h5") or ends(filepath, ".hdf5"):
            warnings.warn("The `save_format` argument is deprecated in Keras 3 and ignored: the file extension "
                          "decides the format ('.keras', or the legacy '.h5').", stacklevel=3)
        else:
            raise ValueError(f"save_format={save_format!r} is not supported: Keras 3 saves whole models to a "
                             f"'.keras' file (or the legacy '.h5'), chosen by the extension; got "
                             f"{source_name(filepath)}. TensorFlow's SavedModel directories do not exist here.")
    if zipped is False:
        raise ValueError("zipped=False (a directory instead of a zip) is not supported; save to a '.keras' file.")
    if legacy_h5.is_legacy_target(filepath):        # '.h5' / '.hdf5': Keras 3's legacy HDF5 file, with a warning
        return legacy_h5.save_legacy_model(model, filepath, overwrite, include_optimizer)
    if not hasattr(filepath, "write") and not ends(filepath, ".keras"):
        raise ValueError(f"Invalid filepath {source_name(filepath)}: a whole model is saved in Keras 3's native "
                         "format, which requires the '.keras' extension, e.g. model.save('model.keras') (or the "
                         "legacy '.h5' format). To save only the weights use model.save_weights('model.weights.h5').")
    if not model.built:
        warnings.warn(f"Saving model '{model.name}', which has not been built yet: the file holds no weights. "
                      "Build it first (call it on data, or start with an Input) to save its weights.", stacklevel=3)
    if file_format == "tf_keras":
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
    legacy = not hasattr(filepath, "write") and not ends(filepath, ".weights.h5") and ends(filepath, ".h5", ".hdf5")
    if not ends(filepath, ".weights.h5") and not hasattr(filepath, "write") and not legacy:
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
        buffer = io.BytesIO()
        with require_h5py().File(buffer, "w") as f:
            legacy_layout.write_legacy_weights(f, model)
        write_atomically(filepath, buffer.getvalue(), overwrite)
        return
    write_atomically(filepath, weights_h5.weights_bytes(model), overwrite)


# ----------------------------------------------------------------------------------- load

def _open_archive(filepath):
    """The zip archive, or a LoadError saying why the file is not a usable ``.keras`` file."""
    name = source_name(filepath)
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


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved by ``model.save('name.keras')`` in shendu or Keras 3.

    The architecture is rebuilt from classes in shendu's registries or ``custom_objects`` only (no
    module named in the file is imported, nothing is unpickled or evaluated); then the weights, the
    compile state and the optimizer's state (slots and iteration count), so training resumes exactly.
    """
    name = source_name(filepath)
    if ends(filepath, ".weights.h5"):
        raise ValueError(f"{name} holds weights only, not a model. Build the model in code, then call "
                         "model.load_weights(path).")
    if ends(filepath, ".h5", ".hdf5"):
        return legacy_h5.load_legacy_model(filepath, custom_objects=custom_objects, compile=compile,
                                           safe_mode=safe_mode)
    if not hasattr(filepath, "read") and not ends(filepath, ".keras"):
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
        weights = tf_keras_read.attention_weights_from_file(weights, name)
    config = limits.parse_config_json(raw, f"{name}: {CONFIG_FILE}")
    ctx = Context(custom_objects, safe_mode, source=f"{name} (config.json)")
    # rebuilding draws initial weights that are overwritten at once: keep the global random stream
    # untouched so that a resumed fit() shuffles and drops out exactly as an uninterrupted one would
    rng_state = _rng_state(backend)
    try:
        model = deserialize_model(config, custom_objects=ctx)
        if compile and config.get("compile_config"):
            compile_from_config(model, config["compile_config"], ctx)
    finally:
        _restore_rng(backend, rng_state)
    with h5_from_bytes(weights, name, WEIGHTS_FILE) as f:
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
    require_h5py()                           # a clear error up front when h5py is missing
    name = source_name(filepath)
    if not model.built:
        raise ValueError(f"Model '{model.name}' has not been built yet, so there is nothing to load weights into. "
                         "Build it first: call it on a batch of data, or give the first layer an input shape.")
    if ends(filepath, ".keras"):
        with _open_archive(filepath) as archive:
            data = _read_member(archive, WEIGHTS_FILE, name, "the model's weights")
        with h5_from_bytes(data, name, WEIGHTS_FILE) as f:
            weights_h5.read_weights(model, f, f"{name} ({WEIGHTS_FILE})", skip_mismatch)
        return
    if not ends(filepath, ".h5", ".hdf5") and not hasattr(filepath, "read"):
        raise ValueError(f"Invalid filepath {name}: load_weights reads '.weights.h5' files (or the weights inside "
                         "a '.keras' file, or legacy '.h5' weight files).")
    with open_h5(filepath, name, "a weights file") as f:
        weights_h5.read_weights(model, f, name, skip_mismatch)
