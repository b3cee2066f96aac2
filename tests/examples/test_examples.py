"""The examples keep working: each is run as a user would run it, and must learn."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transformer_block_example_learns_to_reverse_digits():
    losses = _load("transformer_block").main(steps=60, seed=0)
    assert losses[-1] < 0.25 * losses[0]
