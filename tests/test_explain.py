"""shendu explain: the worked backpropagation example equals autodiff step by step, in both languages,
and --check names exactly the wrong values of a tutorial's claims."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from shendu import cli, explain as ex

CLAIMS = Path(__file__).resolve().parents[1] / "examples" / "data" / "backprop_claims.json"


@pytest.mark.parametrize("activation,loss", list(itertools.product(ex.ACTIVATIONS, ex.LOSSES)))
def test_every_hand_formula_equals_autodiff(activation, loss):
    example = ex.explain(activation=activation, loss=loss, weights={"W1": [[0.3, -0.2], [-0.4, 0.5]]}, print_fn=None)
    assert [s.name for s in example.steps] == list(ex.STEPS)
    for step in example.steps:
        assert step.agrees, step.name
        np.testing.assert_allclose(step.value, step.autodiff, rtol=0, atol=1e-6)


def test_the_default_example_by_independent_arithmetic():
    steps = {s.name: s.value for s in ex.explain(print_fn=None).steps}
    a2 = 1 / (1 + np.exp(-0.5))                 # z² = 0.5·0.6 − 0.6·0 + 0.2
    np.testing.assert_allclose(steps["z1"], [0.6, -0.1])
    np.testing.assert_allclose(steps["a2"], [a2])
    np.testing.assert_allclose(steps["loss"], -np.log(1 - a2))
    np.testing.assert_allclose(steps["delta2"], [a2])        # sigmoid + cross-entropy: δ² = a² − y
    np.testing.assert_allclose(steps["delta1"], [0.5 * a2, 0.0])   # the second hidden unit is off: relu' = 0


def test_a_wrong_step_shows_a_cross(monkeypatch):
    example = ex.Example(x=[1, 2], y=0, weights=ex.DEFAULT_WEIGHTS)
    ex.run(example)
    example.steps[1].value = example.steps[1].value + 0.01
    text = ex.render(example)
    assert "✗ autodiff gives" in text and "All 16 values" not in text


@pytest.mark.parametrize("lang,mark", [("en", "✓ equals autodiff"), ("zh", "✓ 与自动微分一致")])
def test_cli_prints_every_step_in_both_languages(capsys, lang, mark):
    assert cli.main(["explain", "--lang", lang, "--x", "1,2", "--y", "0", "--lr", "0.1"]) == 0
    out = capsys.readouterr().out
    assert out.count(mark) == 16
    for formula in ("z¹ = W¹x + b¹", "δ¹ = (W²ᵀ δ²) ⊙ f'(z¹)", "∂L/∂W¹ = δ¹ xᵀ", "W¹ ← W¹ − α ∂L/∂W¹"):
        assert formula in out
    assert ("反向传播" in out) == (lang == "zh")


def test_cli_weights_inline_and_from_a_file(capsys, tmp_path):
    weights = {"W1": [[1.0, 0.0], [0.0, 1.0]], "b2": [-1.0]}
    assert cli.main(["explain", "--weights", json.dumps(weights)]) == 0
    inline = capsys.readouterr().out
    (tmp_path / "w.json").write_text(json.dumps(weights))
    assert cli.main(["explain", "--weights", str(tmp_path / "w.json")]) == 0
    assert capsys.readouterr().out == inline
    assert "= [1.1000, 2.1000]    ✓" in inline                    # z¹ = I x + b¹
    with pytest.raises(ValueError, match=r"W1 must have shape \(2, 2\)"):
        ex.explain(weights={"W1": [[1.0, 2.0, 3.0]]}, print_fn=None)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_check_flags_each_wrong_value_of_the_shipped_example_and_no_right_one(capsys, lang):
    assert cli.main(["explain", "--check", str(CLAIMS), "--lang", lang]) == 1
    report, wrong = ex.check(ex.read_document(CLAIMS), lang=lang)
    assert sorted(wrong) == ["a2", "dW2", "delta1"]
    out = capsys.readouterr().out
    assert "0.6514" in out and "0.6225" in out and "(3,)" in out and "(1, 2)" in out


def test_check_accepts_correct_claims_and_rounding():
    doc = ex.read_document(CLAIMS)
    real = {s.name: s.value for s in ex.explain(print_fn=None).steps}
    doc["claims"] = {name: np.round(value, 3).tolist() for name, value in real.items()}
    report, wrong = ex.check(doc)
    assert wrong == [] and "all 16 claimed values agree" in report
    doc["claims"] = {"a2": 0.62, "W9": 1.0}                           # 0.6225 printed to 2 places is 0.62
    report, wrong = ex.check(doc)
    assert wrong == ["W9"] and "not a step of this example" in report


def test_bad_options_teach():
    with pytest.raises(ValueError, match="activation must be one of"):
        ex.explain(activation="swish", print_fn=None)
    with pytest.raises(ValueError, match="lang must be one of"):
        ex.explain(lang="fr", print_fn=None)
    with pytest.raises(ValueError, match="expected JSON"):
        ex.read_document("{not json")
