"""The README's main job: ``python -m shendu demo`` (and its low-level ``--xor`` form)."""
from __future__ import annotations

import pytest

from shendu import cli


def test_xor_demo_learns_xor(capsys):
    final_loss = cli.demo_xor(epochs=2000)
    assert final_loss < 0.05
    assert "predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_mnist_demo_learns_digits(capsys):
    from shendu.data.datasets import data_dir
    try:
        data_dir()
    except FileNotFoundError:
        pytest.skip("the MNIST files in ../shared/data are not on this machine")
    assert cli.main(["demo", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.rsplit("accuracy", 1)[1].strip().rstrip("%")) / 100
    assert accuracy > 0.9
