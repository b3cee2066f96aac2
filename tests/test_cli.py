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


def test_bench_command_runs_the_suite(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert cli.main(["bench", "--smoke", "--quiet", "--workloads", "mlp", "--frameworks", "shendu",
                     "--out", str(out)]) == 0
    assert "| MLP 784-256-128-10, batch 128 |" in out.read_text()
    assert "## Summary" in capsys.readouterr().out


def test_unknown_arguments_are_refused():
    with pytest.raises(SystemExit):
        cli.main(["demo", "--bogus"])
