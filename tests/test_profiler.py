"""shendu.profiler: per-op times, counts, shapes, bytes and FLOPs; PyTorch's table; Trace Event JSON."""
from __future__ import annotations

import gzip
import json
import statistics
import time

import numpy as np
import pytest

import shendu as sd
from shendu import autograd, profiler
from shendu.ops import conv_winograd
from shendu.keras import layers, models


def _tutorial_cnn():
    model = models.Sequential([layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                               layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def profiled():
    rng = np.random.default_rng(0)
    model = _tutorial_cnn()
    x, y = rng.random((32, 28, 28, 1), dtype="float32"), rng.integers(0, 10, 32)
    model.train_on_batch(x, y)
    with profiler.profile() as prof:
        start = time.perf_counter()
        for _ in range(3):
            model.train_on_batch(x, y)
        elapsed = time.perf_counter() - start
    return model, prof, elapsed


def test_profiler_table_accounts_for_the_measured_step_time(profiled):
    """The table's self times partition the profiled steps: their sum never exceeds the wall time around the
    same steps, and covers most of it (what is left is the Python between ops). Both sides are measured on
    the same steps, so a busy machine slows them alike; no absolute time is asserted."""
    model, prof, _ = profiled
    averages = prof.key_averages()
    assert sum(row.self_cpu_time_total for row in averages) == pytest.approx(averages.self_cpu_time_total)
    rng = np.random.default_rng(1)
    x, y = rng.random((32, 28, 28, 1), dtype="float32"), rng.integers(0, 10, 32)
    coverage = []
    for _ in range(5):
        with profiler.profile() as one:
            start = time.perf_counter()
            model.train_on_batch(x, y)
            elapsed = time.perf_counter() - start
        coverage.append(one.key_averages().self_cpu_time_total / 1e6 / elapsed)
    assert max(coverage) <= 1.02, coverage
    assert statistics.median(coverage) >= 0.75, coverage


def test_profiler_counts_calls_shapes_bytes_and_flops(profiled):
    model, prof, _ = profiled
    rows = {row.key: row for row in prof.key_averages()}
    # each Conv2D(activation="relu") and the MaxPooling2D after it run one fused op, Conv2DActPool (bias,
    # ReLU and the max pool inside)
    assert rows["Conv2DActPool"].count == 6 and rows["Conv2DActPoolBackward"].count == 6
    assert "MaxPool" not in rows
    assert rows["Linear"].count == 6 and rows["Optimizer.step#Adam.step"].count == 3
    # FLOPs: 2 * outputs * (kernel taps * input channels), three steps
    conv1 = 2 * (32 * 26 * 26 * 32) * (3 * 3 * 1)
    conv2 = 2 * (32 * 10 * 10 * 64) * (3 * 3 * 32)      # 11x11 outputs, but the pool reads 10x10: those count
    assert rows["Conv2DActPool"].flops == 3 * (conv1 + conv2)
    assert rows["Linear"].flops == 3 * (2 * 32 * 128 * 1600 + 2 * 32 * 10 * 128)
    assert "ReLU" not in rows                             # Conv2D and Dense run their relu fused
    assert rows["Reshape"].cpu_memory_usage == 0          # a view allocates nothing
    by_shape = prof.key_averages(group_by_input_shape=True)
    conv_shapes = sorted(row.input_shapes for row in by_shape if row.key == "Conv2DActPool")
    # the second's 13x13 input whole (Winograd's tiles skip the row and column only the dropped outputs read), or
    # cut to 12x12 for im2col
    second = "13, 13" if conv_winograd.kernels() is not None else "12, 12"
    assert conv_shapes == [f"[[32, {second}, 32], [3, 3, 32, 64], [64]]", "[[32, 28, 28, 1], [3, 3, 1, 32], [32]]"]


def test_profiler_table_in_pytorch_layout(profiled):
    _, prof, _ = profiled
    table = prof.key_averages(group_by_input_shape=False).table(sort_by="cpu_time_total", row_limit=5)
    lines = table.splitlines()
    assert lines[0].startswith("---") and lines[2].startswith("---") and lines[-2].startswith("---")
    assert lines[1].split()[:4] == ["Name", "Self", "CPU", "%"]
    for head in ("Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls", "Total MFLOPs"):
        assert head in lines[1]
    assert len(lines) == 3 + 5 + 2 and lines[-1].startswith("Self CPU time total: ")
    totals = [float(line.split()[3].rstrip("%")) for line in lines[3:8]]
    assert totals == sorted(totals, reverse=True)
    with pytest.raises(ValueError, match="sort_by='speed'"):
        prof.key_averages().table(sort_by="speed")


def test_profiler_groups_by_layer(profiled):
    model, prof, _ = profiled
    rows = {row.key: row for row in prof.key_averages(group_by_layer=True)}
    top = model.name
    assert rows[top].count == 3
    for layer in model.layers:
        if isinstance(layer, layers.MaxPooling2D):      # fused into the Conv2D before it: timed in its row
            assert f"{top}/{layer.name}" not in rows
            continue
        assert rows[f"{top}/{layer.name}"].count == 3
    inner = sum(r.self_cpu_time_total for k, r in rows.items() if k.startswith(top + "/"))
    assert rows[top].cpu_time_total == pytest.approx(inner + rows[top].self_cpu_time_total)
    assert rows[f"{top}/{model.layers[0].name}"].flops > 0 and rows[f"{top}/{model.layers[4].name}"].flops == 0


def test_profiler_chrome_trace_is_valid_and_spans_nest(profiled, tmp_path):
    _, prof, _ = profiled
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    data = json.loads(path.read_text())
    events = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert events and all({"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e) for e in events)
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in events)
    assert {"layer", "forward", "backward", "user"} <= {e["cat"] for e in events}
    # on one thread, any two spans are either disjoint or one holds the other
    spans = sorted(((e["ts"], e["ts"] + e["dur"], e) for e in events), key=lambda s: (s[0], -s[1]))
    stack = []
    for start, end, e in spans:
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack:
            assert end <= stack[-1][1] + 1e-3, f"{e['name']} overlaps {stack[-1][2]['name']} without nesting"
        stack.append((start, end, e))
    ops_in_layers = [e for e in events if e["cat"] == "forward" and e["args"]["layer"]]
    for op in ops_in_layers:
        holders = [s for s in events if s["cat"] == "layer" and s["ts"] <= op["ts"]
                   and op["ts"] + op["dur"] <= s["ts"] + s["dur"] + 1e-3]
        assert any(op["args"]["layer"].endswith(h["name"]) for h in holders)


def test_profiler_record_function_and_idle_engine():
    x = sd.tensor(np.ones((4, 4), dtype="float32"))
    with profiler.profile(activities=[profiler.ProfilerActivity.CPU]) as prof:
        with profiler.record_function("my_block"):
            sd.matmul(x, x)
    rows = {row.key: row for row in prof.key_averages()}
    assert rows["my_block"].count == 1 and rows["MatMul"].flops == 2 * 4 * 4 * 4
    assert rows["my_block"].cpu_time_total >= rows["MatMul"].cpu_time_total
    assert autograd._observers == []
    with profiler.record_function("nothing"):        # no profiler: a no-op
        sd.matmul(x, x)
    assert len(prof.events()) == 2
    with pytest.raises(ValueError, match="ProfilerActivity.CPU"):
        profiler.profile(activities=[profiler.ProfilerActivity.CUDA])


def test_profiler_counts_attention_flops():
    batch, steps, embed, heads, key_dim = 2, 5, 8, 2, 4
    attention = layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim)
    x = sd.tensor(np.random.default_rng(0).random((batch, steps, embed), dtype="float32"))
    attention(x, x)
    with profiler.profile() as prof:
        attention(x, x)
    (row,) = [r for r in prof.key_averages(group_by_layer=True) if r.key == attention.name]
    projections = 4 * 2 * batch * steps * embed * heads * key_dim        # q, k, v and the output
    scores_and_mix = 2 * 2 * batch * heads * steps * steps * key_dim      # q kᵀ and softmax(.) v
    assert row.flops == projections + scores_and_mix


def test_profiler_tensorflow_spelling_writes_where_tensorboard_looks(tmp_path):
    x = sd.tensor(np.ones((3, 3), dtype="float32"))
    with profiler.experimental.Profile(str(tmp_path)):
        sd.matmul(x, x)
    (run,) = (tmp_path / "plugins" / "profile").iterdir()
    (trace_file,) = run.iterdir()
    assert trace_file.name.endswith(".trace.json.gz")
    with gzip.open(trace_file, "rt") as f:
        assert [e["name"] for e in json.load(f)["traceEvents"] if e["ph"] == "X"] == ["MatMul"]
    with pytest.raises(RuntimeError, match="No profiler is running"):
        profiler.experimental.stop()


def test_profiler_schedule_steps_and_trace_handler(tmp_path):
    x = sd.tensor(np.ones((4, 4), dtype="float32"))
    windows = []

    def keep(prof):
        windows.append(sorted({e.name for e in prof.events()}))
        profiler.tensorboard_trace_handler(str(tmp_path))(prof)

    plan = profiler.schedule(wait=1, warmup=1, active=2, repeat=1)
    assert [plan(i).name for i in range(6)] == ["NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE", "NONE", "NONE"]
    with profiler.profile(schedule=plan, on_trace_ready=keep) as prof:
        for _ in range(6):
            sd.matmul(x, x)
            prof.step()
    assert windows == [["MatMul", "ProfilerStep#2", "ProfilerStep#3"]]
    (written,) = tmp_path.iterdir()
    assert written.name.endswith(".pt.trace.json")
    events = [e for e in json.loads(written.read_text())["traceEvents"] if e["ph"] == "X"]
    steps = {e["name"]: e for e in events if e["name"].startswith("ProfilerStep")}
    for op in (e for e in events if e["name"] == "MatMul"):     # each op sits inside its step's span
        assert any(s["ts"] <= op["ts"] and op["ts"] + op["dur"] <= s["ts"] + s["dur"] + 1e-3 for s in steps.values())
    with pytest.raises(ValueError, match="active >= 1"):
        profiler.schedule(wait=0, warmup=0, active=0)
