"""``keras.utils.get_file``: fetch a file once into Keras's cache folder, verified by its checksum.

A download goes to a temporary file beside the target and is renamed into place only when it is
complete and its hash matches, so an interrupted or corrupted download never leaves a file that a
later call would trust. ``SHENDU_OFFLINE=1`` forbids the network (the test suite sets it).
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path


class DownloadError(OSError):
    """A file could not be fetched (offline, a network error, or a checksum that does not match)."""


def offline() -> bool:
    """True when ``SHENDU_OFFLINE`` is set to something other than ``0``/empty: never touch the network."""
    return os.environ.get("SHENDU_OFFLINE", "") not in ("", "0")


def keras_cache_dir(cache_dir=None) -> Path:
    """Keras's cache base: ``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras``."""
    if cache_dir is not None:
        return Path(os.path.expanduser(os.fspath(cache_dir)))
    base = os.environ["KERAS_HOME"] if "KERAS_HOME" in os.environ else os.path.join("~", ".keras")
    return Path(os.path.expanduser(base))


def hash_file(path, algorithm="sha256", chunk_size=1 << 20) -> str:
    """The hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _algorithm(file_hash: str, hash_algorithm: str) -> str:
    """Keras's 'auto': a 64-digit hash is SHA-256, anything else MD5."""
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    if hash_algorithm != "auto":
        raise ValueError(f"hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}.")
    return "sha256" if len(file_hash) == 64 else "md5"


def validate_file(path, file_hash: str, hash_algorithm: str = "auto") -> bool:
    """Whether the file's digest equals ``file_hash``."""
    return hash_file(path, _algorithm(file_hash, hash_algorithm)) == file_hash.lower()


def _fetch(origin: str, target: Path, timeout: float) -> None:
    """Stream ``origin`` into a temporary file next to ``target``; rename it into place when complete."""
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            received = 0
            while True:
                block = response.read(1 << 16)
                if not block:
                    break
                out.write(block)
                received += len(block)
        if expected is not None and received != int(expected):
            raise DownloadError(f"the connection closed after {received:,} of {int(expected):,} bytes")
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False,
             timeout: float = 60.0) -> str:
    """The local path of ``fname`` in ``<cache>/<cache_subdir>``, downloading it from ``origin`` if it is absent
    (or its hash does not match). Keras's signature; archives are not extracted (``extract=True`` raises)."""
    if origin is None:
        raise ValueError('get_file() needs the "origin" URL to download from, e.g. '
                         'get_file("mnist.npz", origin="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz").')
    if extract or untar:
        raise NotImplementedError("get_file(extract=True): shendu does not unpack archives; download with "
                                  "extract=False and unpack with the tarfile or zipfile module.")
    file_hash = file_hash or md5_hash
    if fname is None:
        fname = os.path.basename(urllib.request.urlparse(origin).path)
    target = Path(os.path.expanduser(os.fspath(fname)))
    if not target.is_absolute():
        folder = keras_cache_dir(cache_dir) / cache_subdir
        if not os.access(folder if folder.exists() else folder.parent.parent, os.W_OK):
            folder = Path(tempfile.gettempdir()) / ".keras" / cache_subdir     # Keras's fallback
        target = folder / target
    if target.is_file() and not force_download:
        if file_hash is None or validate_file(target, file_hash, hash_algorithm):
            return str(target)
        print(f"{target}: its hash does not match {file_hash}; downloading it again.", file=sys.stderr)
    if offline():
        raise DownloadError(f"{target.name} is not in {target.parent} and SHENDU_OFFLINE is set, so it was not "
                            f"downloaded from {origin}. Put the file there yourself, or unset SHENDU_OFFLINE.")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Downloading data from {origin}", file=sys.stderr)
    try:
        _fetch(origin, target, timeout)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError(f"{target.name} could not be downloaded from {origin} ({e}); nothing was written to "
                            f"{target.parent}.") from None
    if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
        got = hash_file(target, _algorithm(file_hash, hash_algorithm))
        target.unlink()
        raise DownloadError(f"{target.name} downloaded from {origin} is damaged: its {_algorithm(file_hash, hash_algorithm)} "
                            f"is {got}, expected {file_hash}. The file was deleted; try again.")
    return str(target)
