"""``keras.utils.get_file``: download a file once into the Keras cache, checking its published hash.

The cache is Keras's: ``$KERAS_HOME/<cache_subdir>`` when ``KERAS_HOME`` is set, else
``~/.keras/<cache_subdir>``, and ``/tmp/.keras/<cache_subdir>`` when that base is not writable. A file
already there is reused when its hash matches (or when no hash is given); otherwise it is fetched again.
A download goes to a temporary file beside the target and is renamed into place only after its hash
checked out, so an interrupted or tampered download never sits in the cache under the real name.

Nothing fetched is ever executed or unpickled; archives are not extracted (``extract=True`` raises).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
from pathlib import Path


class DownloadError(OSError):
    """A file could not be fetched from its origin."""


def cache_base(cache_dir=None) -> Path:
    """The Keras cache's base folder (``$KERAS_HOME``, else ``~/.keras``; ``/tmp/.keras`` if not writable)."""
    if cache_dir is None:
        cache_dir = os.environ["KERAS_HOME"] if "KERAS_HOME" in os.environ else os.path.join("~", ".keras")
    base = Path(os.path.expanduser(os.fspath(cache_dir)))
    probe = base if base.exists() else base.parent
    if not os.access(probe, os.W_OK):
        base = Path(tempfile.gettempdir()) / ".keras"
    return base


def file_digest(path, algorithm: str = "sha256", chunk_size: int = 65535) -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(file_hash: str, hash_algorithm: str) -> str:
    """Keras's rule: 'auto' means sha256 for a 64-character hash, else md5."""
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    if hash_algorithm != "auto":
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}.")
    return "sha256" if len(file_hash) == 64 else "md5"


def validate_file(fpath, file_hash: str, algorithm: str = "auto") -> bool:
    """True when the file's digest equals ``file_hash`` (``keras.utils.validate_file``)."""
    return file_digest(fpath, _algorithm(file_hash, algorithm)) == str(file_hash).lower()


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The local path of ``fname`` in the Keras cache, downloading it from ``origin`` when needed.

    Args:
        fname: the file's name in the cache (default: the last part of ``origin``'s path).
        origin: the URL to fetch it from.
        file_hash: the expected sha256 (64 hex digits) or md5 digest; ``md5_hash`` is the old spelling.
        cache_subdir: the folder under the cache base ('datasets', 'models', ...); an absolute path is used as is.
        hash_algorithm: 'auto' (by the hash's length), 'sha256' or 'md5'.
        cache_dir: the cache base instead of ``$KERAS_HOME`` / ``~/.keras``.
        force_download: fetch again even when a valid copy is cached.
    Returns the path as a string.
    """
    if origin is None:
        raise ValueError('get_file needs origin=, the URL to download from, e.g. '
                         'get_file("x.h5", origin="https://...").')
    if untar or extract:
        raise ValueError("get_file: extracting archives (untar=True / extract=True) is not supported by shendu; "
                         "download with extract=False and unpack the archive with tarfile or zipfile yourself.")
    del archive_format                      # only meaningful with extract=True
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot take a file name from origin {origin!r}; pass fname=.")
    folder = Path(cache_subdir) if os.path.isabs(cache_subdir) else cache_base(cache_dir) / cache_subdir
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / os.fspath(fname)
    algorithm = None if file_hash is None else _algorithm(str(file_hash), hash_algorithm)

    if target.exists() and not force_download:
        if file_hash is None or file_digest(target, algorithm) == str(file_hash).lower():
            return str(target)
        warnings.warn(f"get_file: the cached {target} does not have the expected {algorithm} hash {file_hash} "
                      f"(incomplete or outdated); downloading it again.", stacklevel=2)

    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(origin) as response:          # noqa: S310 (the caller's URL)
                    shutil.copyfileobj(response, out)
            except (OSError, ValueError) as e:
                raise DownloadError(f"get_file: could not download {fname} from {origin}: {e}. Check the URL and the "
                                    f"network, or place the file at {target} yourself.") from e
        if file_hash is not None:
            got = file_digest(partial, algorithm)
            if got != str(file_hash).lower():
                raise ValueError(f"get_file: the file downloaded from {origin} has {algorithm} {got}, but "
                                 f"{file_hash} was expected; it was incomplete or corrupted and was not kept. "
                                 f"Try again, or check the origin.")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return str(target)
