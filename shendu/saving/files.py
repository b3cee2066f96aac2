"""Files on disk, shared by every format: atomic writes, HDF5 opened with teaching errors, and the
names of a ``.keras`` archive's members.

Files are written atomically: to a temporary file beside the target, flushed and fsync'ed, then
moved over it with ``os.replace``, so an interrupted save never destroys the previous file.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile

try:
    import fcntl            # POSIX file locks, which tell a live save's temporary file from a killed one's
except ImportError:         # Windows: an open file cannot be deleted, which serves the same purpose
    fcntl = None

import sys

from shendu.saving.config import LoadError

KERAS_VERSION = "3.15.1"        # the Keras 3 release whose format is matched (written into metadata.json)
CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE = "config.json", "metadata.json", "model.weights.h5"


def source_name(filepath) -> str:
    """How an error message names the file: its path, or "the file object"."""
    return repr(os.fspath(filepath)) if not hasattr(filepath, "read") else "the file object"


def ends(filepath, *suffixes) -> bool:
    return not hasattr(filepath, "read") and os.fspath(filepath).lower().endswith(suffixes)


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


# ----------------------------------------------------------------------------------- HDF5

def open_h5(filepath, name: str, what: str):
    """An HDF5 file opened for reading, or an error naming the file and what it should have been."""
    if not hasattr(filepath, "read") and not os.path.exists(os.fspath(filepath)):
        raise FileNotFoundError(f"No file at {name}. Check the path (relative paths start at {os.getcwd()!r}).")
    try:
        return require_h5py().File(filepath, "r")
    except OSError as e:
        raise LoadError(f"{name} is not a readable HDF5 file ({e}); it is truncated or not {what}.") from e


def require_h5py(need: str = "Reading Keras weight files needs h5py (they are HDF5)"):
    """h5py, imported on first use (optional, and ~40 ms that ``import shendu`` should not pay), or an
    ImportError that says what needed it and how to install it."""
    try:
        import h5py         # optional: only the weight files need it
    except ImportError as e:
        raise ImportError(f"{need}: pip install h5py, or pip install 'shendu[h5]'.") from e
    return h5py


def is_h5py_file(obj) -> bool:
    """Whether ``obj`` is an open h5py file (never true before h5py has been imported, so no import here)."""
    h5py = sys.modules.get("h5py")
    return h5py is not None and isinstance(obj, h5py.File)


def h5_from_bytes(data: bytes, name: str, member: str):
    """An HDF5 file held in memory (a member of a ``.keras`` archive), opened for reading."""
    try:
        return require_h5py().File(io.BytesIO(data), "r")
    except OSError as e:
        raise LoadError(f"{name}: '{member}' is not a readable HDF5 file ({e}); the file is damaged.") from e


