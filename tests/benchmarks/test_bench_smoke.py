"""The benchmark suite runs end to end in its smoke setting and writes its Markdown table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shendu.bench import spec

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_the_table(tmp_path):
    out, raw = tmp_path / "benchmarks.md", tmp_path / "raw.json"
    frameworks = "shendu,torch" if _has("torch") else "shendu"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--quiet", "--workloads", "mlp",
                           "--frameworks", frameworks, "--out", str(out), "--json", str(raw)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "| MLP 784-256-128-10, batch 128 |" in text
    assert "`import shendu`" in text and "threads per framework: 2" in text
    result = json.loads(raw.read_text())
    ours = result["workloads"]["mlp"]["shendu"]
    assert ours["ms"] > 0 and ours["rss_mb"] > 0 and ours["gflops"] > 0
    assert result["gemm"]["shendu"] > 0
    if frameworks != "shendu":
        assert result["workloads"]["mlp"]["torch"]["ms"] > 0


def test_an_unknown_workload_is_named():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--workloads", "resnet", "--out", "-"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0 and "resnet" in proc.stderr and "mlp" in proc.stderr


@pytest.mark.parametrize("workload", sorted(spec.WORKLOADS))
def test_every_workload_has_data_weights_and_flops(workload):
    x, _ = spec.data(workload, smoke=True)
    weights = spec.initial_weights(workload, smoke=True)
    assert len(x) == spec.sizes(workload, smoke=True)["batch"]
    assert all(w.dtype.kind == "f" for arrays in weights.values() for w in arrays)
    assert spec.flops(workload, smoke=True) > 0


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_keras_fit_variant_never_divides_a_predict_call_by_the_fit_batches():
    """The '-fit' peers time one fit() over FIT_BATCHES batches and divide by that count; predict is one
    predict() call, so its '-fit' variant is skipped rather than reported ten times too fast."""
    sys.path.insert(0, str(ROOT / "shendu" / "bench"))
    try:
        import run_keras
        assert run_keras.step("predict", smoke=True, fit=True) is None
    finally:
        sys.path.remove(str(ROOT / "shendu" / "bench"))


@pytest.mark.skipif(not _has("torch"), reason="needs torch")
@pytest.mark.parametrize("workload", ["bncnn", "sepconv", "transformer", "textcnn", "lstmseq"])
def test_extra_workloads_start_from_the_same_model_in_shendu_and_torch(workload):
    """The weight conversions hold: from spec's initial weights both frameworks predict the same
    probabilities on the workload's data (training mode, batch statistics, as the step runs)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "shendu" / "bench"))
    try:
        import run_shendu
        import run_torch

        from shendu import keras
        s = spec.sizes(workload, smoke=True)
        x, _ = spec.data(workload, smoke=True)
        weights = spec.initial_weights(workload, smoke=True)["model"]
        model = run_shendu.models(workload, s, keras)
        model.set_weights(weights)
        ours = model(x, training=True).numpy()
        theirs, order = run_torch._extra(workload, s, weights)
        with torch.no_grad():
            logits = theirs(torch.from_numpy(np.ascontiguousarray(x.transpose(order) if order else x)))
        np.testing.assert_allclose(ours, torch.softmax(logits, 1).numpy(), rtol=2e-4, atol=2e-6)
    finally:
        sys.path.remove(str(ROOT / "shendu" / "bench"))
