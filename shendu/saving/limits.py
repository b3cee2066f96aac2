"""How much a model file may make shendu allocate, and the checks that hold a file to it.

A ``.keras`` or ``.h5`` file is data from somewhere else; loading it must fail with a ``LoadError``
that says what is wrong, never with a ``RecursionError`` or by filling the memory. The limits:

    MAX_CONFIG_BYTES   64 MiB    size of ``config.json`` (or of a legacy file's ``model_config``);
                                 Keras's own configs are a few kB per layer
    MAX_CONFIG_DEPTH   200       nesting of lists and dicts in a config; a model nested in a model
                                 in a model with a Bidirectional LSTM is about 20 deep
    MAX_LAYERS         100,000   layer entries in a config, nested models counted in
    MAX_EXPANSION      1,000     how many times its compressed size a member of a ``.keras`` zip may
                                 inflate to, once it is over 64 MiB (Keras and shendu store weights
                                 uncompressed; a zip bomb inflates millions of times)

Weight arrays are bounded by the model itself: every reader compares the shape a dataset declares
with the shape of the variable it fills before reading a byte of it, so a small file that declares a
huge dataset is refused, not read. A layer's own loader (``load_own_variables``), which cannot know the
shape to expect, gets no dataset that declares more than about 1000 times the bytes the file stores
for it (``weights_h5.Store``). Raise a limit (``shendu.saving.limits.MAX_LAYERS = ...``) to load
a file that genuinely exceeds it.
"""
from __future__ import annotations

import json

from shendu.saving.config import LoadError

MAX_CONFIG_BYTES = 64 * 2 ** 20
MAX_CONFIG_DEPTH = 200
MAX_LAYERS = 100_000
MAX_EXPANSION = 1000


def check_member_expansion(info, source: str) -> None:
    """Refuse a zip member (a ``zipfile.ZipInfo``) that declares more than ``MAX_EXPANSION`` times its compressed
    size once past 64 MiB, before it is inflated: weights do not compress a thousandfold, zip bombs do."""
    if info.file_size > 64 * 2 ** 20 and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
        raise LoadError(f"{source}: {info.compress_size:,} compressed bytes would inflate to {info.file_size:,}, "
                        f"more than {MAX_EXPANSION:,} times (shendu.saving.limits.MAX_EXPANSION). The file is "
                        "damaged or hostile; if it is genuine, raise that limit.")


def check_config_size(size: int, source: str) -> None:
    """Refuse a config of more than ``MAX_CONFIG_BYTES`` before it is read or parsed."""
    if size > MAX_CONFIG_BYTES:
        raise LoadError(f"{source}: the model config is {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} "
                        "bytes shendu reads (shendu.saving.limits.MAX_CONFIG_BYTES). The file is damaged or "
                        "hostile; if it is genuine, raise that limit.")


def parse_config_json(raw, source: str):
    """``json.loads`` for a model config read from a file: bounded in size and nesting, and every failure
    a ``LoadError`` naming ``source``."""
    check_config_size(len(raw), source)
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LoadError(f"{source} is not valid JSON ({e}); the file is damaged or was edited by hand.") from e
    except RecursionError as e:          # json's parser recurses once per nesting level
        raise LoadError(_depth_message(source, "more than Python's parser can follow")) from e
    check_config(config, source)
    return config


def check_config(config, source: str) -> None:
    """Walk a parsed config without recursion: refuse nesting deeper than ``MAX_CONFIG_DEPTH`` and more
    than ``MAX_LAYERS`` layer entries, before anything is built from it."""
    stack, layers = [(config, 1)], 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise LoadError(_depth_message(source, f"more than {MAX_CONFIG_DEPTH}"))
        if isinstance(value, dict):
            found = value.get("layers")
            if isinstance(found, list):
                layers += len(found)
                if layers > MAX_LAYERS:
                    raise LoadError(f"{source}: the config lists more than {MAX_LAYERS:,} layers "
                                    "(shendu.saving.limits.MAX_LAYERS). The file is damaged or hostile; if it "
                                    "is genuine, raise that limit.")
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


def _depth_message(source: str, how_deep: str) -> str:
    return (f"{source}: the config nests lists and dicts {how_deep} levels deep; shendu reads at most "
            f"{MAX_CONFIG_DEPTH} (shendu.saving.limits.MAX_CONFIG_DEPTH). Keras never writes such a config: "
            "the file is damaged or hostile.")
