"""shendu.trace: every op of a step with its formula, shapes, values and gradients."""
from __future__ import annotations

import numpy as np

import shendu as sd
from shendu import autograd
from shendu.keras import layers, models, optimizers


def _cnn():
    model = models.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), layers.MaxPooling2D(2),
                               layers.Flatten(), layers.Dense(5, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    return model


def test_trace_of_cnn_first_batch_lists_every_op_and_gradients_fit_uses(rng):
    model = _cnn()
    x = rng.random((6, 8, 8, 1), dtype="float32")
    y = rng.integers(0, 3, 6)
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    with sd.trace() as t:                                     # one epoch of one batch: fit's first batch
        model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    ops = [s.op for s in t.forward]
    # Dense(activation="relu") runs as one op, the bias and ReLU fused in; so do Conv2D(activation="relu") and
    # the MaxPooling2D after it (a Sequential runs them as one op; fuse_conv_pool = False runs two, below)
    assert ops[:5] == ["Conv2DActPool", "Reshape", "Linear", "Linear", "Softmax"]
    names = [model.layers[i].name for i in (0, 2, 3, 4, 4)]
    assert [s.layer for s in t.forward[:5]] == [f"{model.name}/{n}" for n in names]
    assert all(s.layer == "" for s in t.forward[5:])       # the loss belongs to no layer
    # shapes and formulas
    conv = t.forward[0]
    assert [a.shape for a in conv.inputs] == [(6, 8, 8, 1), (3, 3, 1, 4), (4,)]
    assert conv.outputs[0].shape == (6, 3, 3, 4)
    assert conv.formula.startswith("p[n,i,j,f] = max_{a,b} y[")
    model.fuse_conv_pool = False
    with sd.trace() as apart:
        model.predict(x, verbose=0)
    assert [s.op for s in apart.forward[:2]] == ["Conv2DAct", "MaxPool"]
    assert apart.forward[0].formula.startswith("y[n,i,j,f] = act(Σ")
    assert all(s.formula and s.inputs and s.outputs for s in t.forward + t.backward)
    assert all(isinstance(a.shape, tuple) for s in t.forward for a in s.inputs + s.outputs)
    # backward runs from the last op to the first, one step per forward step but the softmax: the
    # cross-entropy of its probabilities is computed from its logits (tf.keras's rule), so no gradient passes it
    assert [s.index for s in t.backward] == sorted((s.index for s in t.backward), reverse=True)
    assert [s.op for s in t.backward][::-1] == [op for op in ops if op != "Softmax"]
    # SGD with learning rate 1: the update is minus the gradient fit computed
    grads = t.weight_gradients()
    assert set(grads) == set(before)
    for w in model.trainable_weights:
        np.testing.assert_allclose(grads[w.path], before[w.path] - w.numpy(), rtol=1e-4, atol=1e-6)
    # the weights are named, forward and backward
    kernel = model.layers[0].weights[0].path
    assert t.rows()[0]["in"].split("; ")[1].startswith(f"{kernel} (3, 3, 1, 4): ")
    assert f"d({kernel}) (3, 3, 1, 4)" in t.rows()[-1]["out"]
    # forward values are the layers' real output: max_pool2d(relu(conv2d(x, K) + b)) with the weights the step
    # began from
    K, b = (before[w.path] for w in model.layers[0].weights)
    expected = sd.ops.max_pool2d(sd.ops.relu(sd.ops.conv2d(x, K, b)), 2).numpy()
    np.testing.assert_allclose(conv.outputs[0], expected, rtol=1e-6, atol=1e-6)


def test_trace_table_markdown_and_html(tmp_path):
    a = sd.tensor(np.array([1.0, -2.0, 3.0], dtype="float32"), requires_grad=True)
    with sd.trace() as t:
        loss = sd.sum(sd.relu(a) * 2.0)
        loss.backward()
    text = str(t)
    lines = text.splitlines()
    order = [line.split()[3] for line in lines[3:] if line.strip() and not line.startswith("-")]
    assert order == ["ReLU", "Mul", "Sum", "Sum", "Mul", "ReLU"]     # forward down, backward up
    assert "a = max(z, 0)" in text and "x0 (3,): [ 1., -2., 3.]" in text and "dx0 (3,): [2., 0., 2.]" in text
    relu_back = t.backward[-1]
    np.testing.assert_array_equal(relu_back.outputs[0], [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(a.grad.numpy(), relu_back.outputs[0])
    md = t.to_markdown()
    assert md.splitlines()[0].startswith("| # | phase | layer | op |") and md.count("\n") == 2 + 6
    page = t.to_html(tmp_path / "trace.html")
    assert (tmp_path / "trace.html").read_text(encoding="utf-8") == page and page.count("<tr class=") == 6


def test_trace_of_inference_names_weights(rng):
    model = _cnn()
    with sd.trace() as t:
        model.predict(rng.random((2, 8, 8, 1), dtype="float32"), verbose=0)
    assert not t.backward and t.forward[0].op == "Conv2DActPool"
    assert t.rows()[0]["in"].split("; ")[1].startswith(model.layers[0].weights[0].path)


def test_trace_summarises_large_tensors_and_stops_at_exit():
    x = sd.tensor(np.arange(100, dtype="float32"))
    with sd.trace(small=10) as t:
        sd.exp(x * 0.0)
    assert "min 0, mean 49.5, max 99" in str(t)
    assert autograd._observers == []
    sd.tanh(x)
    assert len(t.forward) == 2


def test_trace_stops_recording_after_max_ops():
    a = sd.tensor(np.ones(3, dtype="float32"), requires_grad=True)
    with sd.trace(max_ops=2) as t:
        sd.sum(sd.exp(a) * 2.0).backward()
    assert [s.op for s in t.forward] == ["Exp", "Mul"] and t.truncated
    assert [s.op for s in t.backward] == ["Mul", "Exp"]
    assert "recording stopped after 2 ops" in str(t)
