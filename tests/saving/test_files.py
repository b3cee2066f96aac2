"""Atomic writes: a killed save's temporary file is cleaned up by the next save; failures name the folder."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from shendu.saving import files

fcntl = pytest.importorskip("fcntl")

KILLED_SAVE = """
import os, sys
from shendu.saving import files
os.replace = lambda *args: os._exit(9)          # the process dies after writing, before the rename
files.write_atomically(sys.argv[1], b"new" * 1000)
"""


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def test_next_save_removes_the_temporary_file_of_a_killed_save(tmp_path):
    target = tmp_path / "m.keras"
    target.write_bytes(b"old")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(files.__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], env=env, capture_output=True)
    assert result.returncode == 9, result.stderr.decode()
    left = temporaries(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.keras.") and target.read_bytes() == b"old"
    files.write_atomically(target, b"next")
    assert temporaries(tmp_path) == [] and target.read_bytes() == b"next"


def test_a_running_save_and_other_targets_keep_their_temporary_files(tmp_path):
    target = tmp_path / "m.keras"
    other = tmp_path / ".other.keras.abcd1234.tmp"                 # another target's file
    other.write_bytes(b"x")
    fd, live = tempfile.mkstemp(dir=tmp_path, prefix=".m.keras.", suffix=".tmp")
    fcntl.flock(fd, fcntl.LOCK_EX)                                   # a save in progress holds its lock
    try:
        files.write_atomically(target, b"data")
        assert os.path.exists(live) and other.exists()
    finally:
        os.close(fd)
    files.write_atomically(target, b"data")                     # now it is stale
    assert not os.path.exists(live) and other.exists()


def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    folder = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=r"Cannot save .*m\.keras.*no file can be created in the folder "
                                                r".*no/such.*exists and is writable") as info:
        files.write_atomically(folder / "m.keras", b"data")
    assert info.value.filename == str(folder) and ".tmp" not in str(info.value)


def test_save_into_a_read_only_folder_names_the_folder(tmp_path, monkeypatch):
    def refused(dir, prefix, suffix):       # what the system answers in a folder without write permission
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "k3j2h1g0" + suffix))

    monkeypatch.setattr(files.tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError, match=r"Cannot save .*m\.keras.*folder .*Permission denied") as info:
        files.write_atomically(tmp_path / "m.keras", b"data")
    assert info.value.filename == str(tmp_path) and ".tmp" not in str(info.value)
