"""keras.callbacks.TensorBoard: tf.keras's folders and names, read back by TensorBoard's reader and server."""
from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from helpers import read_events as _read, without_tensorboard as _without_tensorboard


from shendu.keras import callbacks, layers, models




@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tensorboard):
    rng = np.random.default_rng(0)
    logdir = tmp_path_factory.mktemp("logs")
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = rng.random((64, 4), dtype="float32"), rng.integers(0, 3, 64)
    board = callbacks.TensorBoard(log_dir=logdir, histogram_freq=1, update_freq=2, profile_batch=(2, 3),
                                  write_images=True)
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(x, y), verbose=0, callbacks=[board])
    return logdir, model, history.history, board


def test_tensorboard_epoch_scalars_match_history(fitted):
    logdir, _, history, _ = fitted
    assert sorted(os.listdir(logdir)) == ["train", "validation"]
    train, val = _read(logdir / "train"), _read(logdir / "validation")
    for name in ("loss", "accuracy"):
        assert [(e.step, e.value) for e in train.Scalars(f"epoch_{name}")] == [
            (epoch, pytest.approx(v, rel=1e-6)) for epoch, v in enumerate(history[name])]
        assert [(e.step, e.value) for e in val.Scalars(f"epoch_{name}")] == [
            (epoch, pytest.approx(v, rel=1e-6)) for epoch, v in enumerate(history[f"val_{name}"])]
    assert [(e.step, e.value) for e in train.Scalars("epoch_learning_rate")] == [
        (epoch, pytest.approx(0.001)) for epoch in range(3)]
    assert "epoch_learning_rate" not in val.Tags()["scalars"]


def test_tensorboard_batch_scalars_every_update_freq_batches(fitted):
    logdir, _, _, _ = fitted
    train = _read(logdir / "train")
    steps = [e.step for e in train.Scalars("batch_loss")]
    assert steps == [2, 4, 6, 8, 10, 12]                 # 4 batches per epoch, every second global batch


def test_tensorboard_histograms_images_and_graph(fitted):
    logdir, model, _, _ = fitted
    train = _read(logdir / "train")
    for w in model.weights:
        hist = train.Histograms(f"{w.path}/histogram")
        assert [h.step for h in hist] == [0, 1, 2]
        assert hist[-1].histogram_value.num == w.numpy().size
        assert hist[-1].histogram_value.sum == pytest.approx(float(w.numpy().astype("float64").sum()), abs=1e-5)
    assert train.Images(f"{model.weights[0].path}/image")[0].height == 4      # (4, 8) kernel drawn 4 high
    graph = train.Graph()
    assert [n.op for n in graph.node] == ["InputLayer", "Dense", "Dense"]
    assert [n.name for n in graph.node[1:]] == [f"{model.name}/{layer.name}" for layer in model.layers]
    assert list(graph.node[2].input) == [graph.node[1].name] and list(graph.node[1].input) == [graph.node[0].name]
    config = json.loads(train.Tensors("keras")[0].tensor_proto.string_val[0])
    assert config["class_name"] == "Sequential"


def test_tensorboard_profile_batch_writes_a_trace(fitted):
    logdir, _, _, board = fitted
    runs = os.listdir(logdir / "train" / "plugins" / "profile")
    assert len(runs) == 1
    (trace_file,) = os.listdir(logdir / "train" / "plugins" / "profile" / runs[0])
    with gzip.open(logdir / "train" / "plugins" / "profile" / runs[0] / trace_file) as f:
        events = json.load(f)["traceEvents"]
    assert sum(1 for e in events if e.get("name") == "Optimizer.step#Adam.step") == 2     # batches 2 and 3
    table = _read(logdir / "train").Tensors("profile/batch_2_3")[0].tensor_proto.string_val[0].decode()
    assert "Self CPU time total" in table and board.last_profile is not None


def test_tensorboard_rejects_bad_arguments():
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(update_freq="sometimes")
    with pytest.raises(ValueError, match="profile_batch"):
        callbacks.TensorBoard(profile_batch=(5, 2))


def test_tensorboard_without_the_package_names_the_monitor_extra_when_fit_starts(tmp_path, monkeypatch):
    _without_tensorboard(monkeypatch)
    model = models.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), dtype="float32")
    with pytest.raises(ImportError, match=r"needs the tensorboard package: pip install 'shendu\[monitor\]'"):
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[callbacks.TensorBoard(log_dir=tmp_path)])
    assert not (tmp_path / "train").exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_server_serves_the_scalars(fitted):
    logdir, model, history, _ = fitted
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                               "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=validation&tag=epoch_loss"
        deadline, points = time.time() + 60, None
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    points = json.loads(response.read())
                if len(points) == 3:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        assert points is not None and [(p[1], p[2]) for p in points] == [
            (epoch, pytest.approx(v, rel=1e-6)) for epoch, v in enumerate(history["val_loss"])]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/histograms/tags", timeout=5) as response:
            assert f"{model.weights[0].path}/histogram" in json.loads(response.read())["train"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_tensorboard_graph_of_a_functional_model_with_two_inputs_and_a_nested_model(tmp_path, tensorboard):
    from shendu.keras import Input, Model
    inner = models.Sequential([layers.Dense(4, input_shape=(6,), name="inner_dense")], name="inner")
    a, b = Input((3,), name="left"), Input((3,), name="right")
    joined = layers.Concatenate(name="joined")([layers.Dense(3, name="branch")(a), b])
    model = Model([a, b], layers.Dense(1, name="out")(inner(joined)), name="two")
    board = callbacks.TensorBoard(log_dir=tmp_path)
    board.set_model(model)
    board.on_train_end()
    graph = _read(tmp_path / "train").Graph()
    inputs = {n.name: list(n.input) for n in graph.node}
    ops = {n.name: n.op for n in graph.node}
    assert inputs == {"two/left": [], "two/right": [], "two/branch": ["two/left"],
                      "two/joined": ["two/branch", "two/right"], "two/inner/inner_dense": ["two/joined"],
                      "two/out": ["two/inner/inner_dense"]}
    assert ops["two/joined"] == "Concatenate" and ops["two/left"] == "InputLayer"


def test_tensorboard_embeddings_for_the_projector(tmp_path, tensorboard):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    rng = np.random.default_rng(0)
    model = models.Sequential([layers.Embedding(20, 4, name="words"), layers.GlobalAveragePooling1D(),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    (tmp_path / "labels.tsv").write_text("\n".join(f"w{i}" for i in range(20)))
    board = callbacks.TensorBoard(log_dir=tmp_path, embeddings_freq=1, embeddings_metadata={"words": "labels.tsv"})
    model.fit(rng.integers(0, 20, (16, 5)), rng.integers(0, 2, (16, 1)).astype("float32"), epochs=1, verbose=0,
              callbacks=[board])
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(),
                               projector_config_pb2.ProjectorConfig())
    (entry,) = config.embeddings
    assert entry.metadata_path == "labels.tsv"
    vectors = np.loadtxt(tmp_path / entry.tensor_path, delimiter="\t")
    np.testing.assert_allclose(vectors, model.layers[0].get_weights()[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not Embedding layers"):
        callbacks.TensorBoard(log_dir=tmp_path, embeddings_freq=1, embeddings_metadata={"nope": "x.tsv"}).set_model(
            model)


def test_tensorboard_every_batch_speed_and_evaluation(tmp_path, tensorboard):
    rng = np.random.default_rng(0)
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = rng.random((12, 3), dtype="float32"), rng.integers(0, 2, 12)
    board = callbacks.TensorBoard(log_dir=tmp_path, update_freq="batch", write_steps_per_second=True,
                                  write_graph=False)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[board])
    result = model.evaluate(x, y, verbose=0, callbacks=[board])
    board.on_train_end()
    train, val = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert [e.step for e in train.Scalars("batch_loss")] == [1, 2, 3, 4, 5, 6]
    assert all(e.value > 0 for e in train.Scalars("batch_steps_per_second"))
    assert [e.step for e in train.Scalars("epoch_steps_per_second")] == [0, 1]
    (point,) = val.Scalars("evaluation_loss_vs_iterations")
    assert point.step == 6 and point.value == pytest.approx(result, rel=1e-6)
    assert not train.Tags()["graph"]


def test_tensorboard_subclassed_model_logs_without_a_graph(tmp_path, tensorboard):
    class Net(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), dtype="float32")
    model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[callbacks.TensorBoard(log_dir=tmp_path)])
    train = _read(tmp_path / "train")
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1] and not train.Tags()["graph"]
