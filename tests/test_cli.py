"""The README's main job: ``python -m shendu demo`` (and its low-level ``--xor`` form)."""
from __future__ import annotations

import pytest

import shendu.keras as keras
from shendu import cli, demo


def test_xor_demo_learns_xor(capsys):
    final_loss = demo.demo_xor(epochs=2000)
    assert final_loss < 0.05
    assert "predictions" in capsys.readouterr().out


@pytest.mark.slow
def test_mnist_demo_learns_digits_and_writes_its_run_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_cache"))     # the embedded set, as on a fresh machine
    assert cli.main(["demo", "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "embedded in shendu" in out
    accuracy = float(out.split("held-out digits:")[1].split("accuracy")[1].split("%")[0]) / 100
    assert accuracy > 0.94
    assert out.rstrip().splitlines()[-1] == f"run folder: {tmp_path / 'run'}"
    for name in ("model.keras", "history.csv", "curves.png", "predictions.png", "first_batch_trace.md"):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:2] == ["epoch", "accuracy"] and len(history) == 2
    trace = (tmp_path / "run" / "first_batch_trace.md").read_text()
    assert "| Conv2DAct |" in trace and "| MaxPool |" in trace      # each tutorial layer's own op and formula
    restored = keras.models.load_model(str(tmp_path / "run" / "model.keras"))
    assert restored.count_params() == 225_034


def test_bench_command_runs_the_suite(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert cli.main(["bench", "--smoke", "--quiet", "--workloads", "mlp", "--frameworks", "shendu",
                     "--out", str(out)]) == 0
    assert "| MLP 784-256-128-10, batch 128 |" in out.read_text()
    assert "## Summary" in capsys.readouterr().out


def test_unknown_arguments_are_refused():
    with pytest.raises(SystemExit):
        cli.main(["demo", "--bogus"])
