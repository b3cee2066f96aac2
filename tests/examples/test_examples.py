"""The examples keep working: each runs as a user would run it (its main() with command-line arguments, on a
reduced setting), and must reach its metric."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shendu import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name, *args):
    return _load(name).main(list(args))


def test_transformer_block_example_learns_to_reverse_digits():
    losses = _load("transformer_block").main(steps=60, seed=0)
    assert losses[-1] < 0.25 * losses[0]


def test_linear_regression_reaches_the_closed_form(tmp_path):
    result = _run("linear_regression", "--out", str(tmp_path))
    assert result["max_difference_from_closed_form"] < 1e-4
    assert (tmp_path / "loss.png").stat().st_size > 0


def test_logistic_regression_agrees_with_scikit_learn(tmp_path):
    result = _run("logistic_regression", "--out", str(tmp_path))
    assert result["accuracy"] >= 0.9 and result["agreement"] >= 0.98


def test_backprop_example_agrees_with_autodiff_at_every_step(capsys):
    result = _run("backprop", "--lang", "zh")
    assert result["agree_with_autodiff"] == result["steps"] == 16
    assert "反向传播" in capsys.readouterr().out


def test_iris_mlp(tmp_path):
    assert _run("iris_mlp", "--epochs", "60", "--out", str(tmp_path))["accuracy"] >= 0.93


@pytest.mark.slow
def test_mnist_cnn_reduced(tmp_path):
    result = _run("mnist_cnn", "--epochs", "2", "--train-size", "2000", "--test-size", "500", "--out", str(tmp_path))
    assert result["accuracy"] >= 0.85
    assert (tmp_path / "predictions.png").stat().st_size > 0


@pytest.mark.slow
def test_mnist_rows_lstm_reduced(tmp_path):
    result = _run("mnist_rows_lstm", "--epochs", "3", "--train-size", "3000", "--test-size", "500", "--out",
                  str(tmp_path))
    assert result["accuracy"] >= 0.6


@pytest.mark.slow
@pytest.mark.parametrize("lang,epochs,floor", [("en", "3", 0.7), ("zh", "4", 0.85)])
def test_text_classifier_reduced(lang, epochs, floor):
    assert _run("text_classifier", "--lang", lang, "--epochs", epochs)["accuracy"] >= floor


@pytest.mark.slow
def test_transformer_classifier_reduced():
    assert _run("transformer_classifier", "--epochs", "3")["accuracy"] >= 0.65


@pytest.mark.slow
def test_dcgan_keras_recipe_trains_the_generator_and_leaves_the_frozen_discriminator(tmp_path):
    result = _run("dcgan", "--epochs", "1", "--steps", "8", "--out", str(tmp_path))
    assert result["generator_moved"] and result["discriminator_moved"]
    assert not result["frozen_discriminator_moved_in_combined_step"]
    assert (tmp_path / "epoch_001.png").stat().st_size > 0


@pytest.mark.slow
def test_dcgan_gradient_tape_loop(tmp_path):
    result = _run("dcgan", "--epochs", "1", "--steps", "4", "--loop", "tape", "--out", str(tmp_path))
    assert result["generator_moved"] and result["discriminator_moved"]


@pytest.mark.slow
def test_seq2seq_reduced():
    assert _run("seq2seq", "--samples", "1500", "--epochs", "15", "--length", "3", "--units", "64")["exact"] >= 0.8


@pytest.mark.slow
def test_autoencoder_beats_the_average_digit(tmp_path):
    result = _run("autoencoder", "--epochs", "6", "--train-size", "4000", "--out", str(tmp_path))
    assert result["mse"] < 0.8 * result["baseline_mse"]


def test_every_example_has_help_and_is_listed(capsys):
    assert cli.main(["examples"]) == 0
    listing = capsys.readouterr().out
    for script in sorted(EXAMPLES.glob("*.py")):
        assert script.stem in listing
        assert script.read_text(encoding="utf-8").startswith('"""'), script.name
    for name in ("mnist_cnn", "dcgan", "text_classifier"):
        with pytest.raises(SystemExit) as e:
            _run(name, "--help")
        assert e.value.code == 0
