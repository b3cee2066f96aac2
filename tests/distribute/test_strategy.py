"""MPIStrategy: two MPI workers train to the same weights and History as one process with the same global
batch; alone, the strategy is one worker and changes nothing; a failing worker ends the whole job."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import shendu as tf
from shendu.distribute import launch
from shendu.distribute.strategy import MPIStrategy

keras = tf.keras
ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def _mpiexec_or_skip():
    try:
        import mpi4py  # noqa: F401
        return launch.find_mpiexec()
    except (ImportError, FileNotFoundError) as error:
        pytest.skip(f"needs MPI: install the distributed extra (pip install -e '.[distributed]'): {error}")


def _env():
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    return env


def _run(command, timeout=120):
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _close(a, b):
    """Equal to 1e-5 relative at the scale of the array (elements near zero compare to the array's size)."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * max(np.abs(a).max(), 1e-12))


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    mpiexec = _mpiexec_or_skip()
    folder = tmp_path_factory.mktemp("distribute")
    program = str(PROGRAMS / "train_small.py")
    one = _run([sys.executable, program, str(folder / "one.npz")])
    assert one.returncode == 0, one.stderr
    two = _run([mpiexec, "-n", "2", sys.executable, program, str(folder / "two.npz")])
    assert two.returncode == 0, two.stderr
    return np.load(folder / "one.npz"), np.load(folder / "two.npz")


@pytest.mark.parametrize("name", ["cnn", "lstm"])
def test_two_workers_match_one_process_with_the_same_global_batch(one_and_two, name):
    one, two = one_and_two
    assert int(one["workers"]) == 1 and int(two["workers"]) == 2
    weights = sorted(k for k in one.files if k.startswith(f"{name}_w"))
    assert weights
    for key in weights:
        _close(one[key], two[key])
    history_one, history_two = json.loads(str(one[f"{name}_history"])), json.loads(str(two[f"{name}_history"]))
    assert set(history_one) == set(history_two) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in history_one:
        _close(history_one[key], history_two[key])
    _close(one[f"{name}_evaluate"], two[f"{name}_evaluate"])
    assert two[f"{name}_predict"].shape == one[f"{name}_predict"].shape
    _close(one[f"{name}_predict"], two[f"{name}_predict"])


def test_custom_loop_with_distributed_optimizer_and_allreduce(one_and_two):
    one, two = one_and_two
    _close(one["custom_loop"], two["custom_loop"])
    np.testing.assert_array_equal(one["allreduce"], [1, 1, 1])          # alone: its own values
    np.testing.assert_array_equal(two["allreduce"], [1.5, 1.5, 1.5])    # the mean of 1 and 2


def test_a_failing_worker_ends_the_job_with_its_message():
    mpiexec = _mpiexec_or_skip()
    start = time.monotonic()
    result = _run([mpiexec, "-n", "2", sys.executable, str(PROGRAMS / "fail_on_worker.py")], timeout=60)
    assert time.monotonic() - start < 30
    assert result.returncode != 0
    assert "worker one ran out of patience" in result.stderr
    assert "[worker 1 of 2]" in result.stderr


def _small_fit(use_strategy):
    tf.set_seed(11)
    x = np.random.default_rng(1).normal(size=(70, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    strategy = MPIStrategy()
    scope = strategy.scope() if use_strategy else _nothing()
    with scope:
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    return model, history.history


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_alone_the_strategy_is_one_worker_and_changes_nothing():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 1 and strategy.is_chief
    assert tf.distribute.MirroredStrategy is tf.distribute.MPIStrategy
    plain, plain_history = _small_fit(False)
    distributed, distributed_history = _small_fit(True)
    for a, b in zip(plain.get_weights(), distributed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert plain_history == distributed_history
    assert tf.distribute.get_strategy().num_replicas_in_sync == 1 and not tf.distribute.has_strategy()


def test_strategy_rejects_device_lists_with_the_fix():
    with pytest.raises(ValueError, match="mpiexec -n N"):
        tf.distribute.MirroredStrategy(devices=["/gpu:0", "/gpu:1"])


def test_strategy_reduce_alone():
    strategy = MPIStrategy()
    assert float(strategy.reduce("SUM", np.array(3.0))) == 3.0
    assert float(strategy.reduce(tf.distribute.ReduceOp.MEAN, np.array([1.0, 3.0]), axis=0)) == 2.0
    with pytest.raises(ValueError, match="SUM"):
        strategy.reduce("MAX", 1.0)


class _FakeComm:
    """Worker ``rank`` of ``size``: what sharding needs, no collectives."""
    def __init__(self, rank, size):
        self.rank, self.size = rank, size


def _shards(rank, size, lengths):
    strategy = MPIStrategy()
    strategy.comm, strategy.rank, strategy.size = _FakeComm(rank, size), rank, size
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    weights = []
    batches, start = [], 0
    for n in lengths:
        batches.append((np.arange(start, start + n)[:, None], {"y": np.arange(start, start + n)}, None))
        start += n
    model.optimizer._gradient_reducer = type("R", (), {"weight": None})()
    out = []
    for bx, by, bw in strategy.shard_batches(model, batches):
        weights.append(model.optimizer._gradient_reducer.weight)
        out.append(bx[:, 0].tolist())
        assert by["y"].tolist() == bx[:, 0].tolist() and bw is None
    return out, weights, strategy._owned


def test_each_worker_takes_its_contiguous_share_of_every_global_batch():
    first, w0, _ = _shards(0, 2, [5, 4])
    second, w1, _ = _shards(1, 2, [5, 4])
    assert first == [[0, 1], [5, 6]] and second == [[2, 3, 4], [7, 8]]
    assert w0 == [0.4, 0.5] and w1 == [0.6, 0.5]          # shares of the batch weigh the gradients


def test_a_batch_smaller_than_the_workers_gives_a_stand_in_that_counts_for_nothing():
    shards, weights, owned = _shards(2, 3, [2])
    assert shards == [[0]] and weights == [0.0] and owned == [False]
    shards, weights, owned = _shards(1, 3, [2])
    assert shards == [[1]] and weights == [0.5] and owned == [True]


def test_a_job_killed_midway_resumes_from_worker_zeros_backup_to_the_same_weights(tmp_path):
    mpiexec = _mpiexec_or_skip()
    program = str(PROGRAMS / "resume.py")
    whole = _run([mpiexec, "-n", "2", sys.executable, program, str(tmp_path / "whole.npz"), str(tmp_path / "b1")])
    assert whole.returncode == 0, whole.stderr
    env_crash = _env()
    env_crash["CRASH_AT"] = "2"
    killed = subprocess.run([mpiexec, "-n", "2", sys.executable, program, str(tmp_path / "killed.npz"),
                             str(tmp_path / "b2")], env=env_crash, capture_output=True, text=True, timeout=60)
    assert killed.returncode != 0 and (tmp_path / "killed.npz.crashed").read_text() == "killed at epoch 2"
    assert (tmp_path / "b2" / "latest.weights.h5").exists() and not (tmp_path / "killed.npz").exists()
    resumed = _run([mpiexec, "-n", "2", sys.executable, program, str(tmp_path / "resumed.npz"), str(tmp_path / "b2")])
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "b2").exists()          # worker 0 deleted the finished job's backup
    whole, resumed = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "resumed.npz")
    assert whole["epochs"].tolist() == [0, 1, 2]
    # it resumed after the last backup worker 0 finished before the abort (epoch 0's or epoch 1's)
    assert resumed["epochs"].tolist() in ([1, 2], [2])
    for key in whole.files:
        if key != "epochs":
            np.testing.assert_allclose(resumed[key], whole[key], rtol=1e-6, atol=1e-7)


def test_two_workers_on_strict_arrays_match_one_numpy_process(one_and_two, tmp_path):
    """The distributed step through the array seam: CuPy-like arrays (tests/strict_xp.py) in every worker."""
    mpiexec = _mpiexec_or_skip()
    env = _env()
    env["STRICT_BACKEND"] = "1"
    result = subprocess.run([mpiexec, "-n", "2", sys.executable, str(PROGRAMS / "train_small.py"),
                             str(tmp_path / "strict.npz")], env=env, capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    one, strict = one_and_two[0], np.load(tmp_path / "strict.npz")
    for key in one.files:
        if "history" not in key and key not in ("workers", "allreduce"):   # those differ by design
            _close(one[key], strict[key])


def test_only_worker_zero_prints_progress_and_writes_logs_and_checkpoints(tmp_path):
    mpiexec = _mpiexec_or_skip()
    result = _run([mpiexec, "-n", "2", sys.executable, str(PROGRAMS / "chief_writes.py"), str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt0.weights.h5", "log0.csv"]
    assert result.stdout.count("Epoch 1/2") == 1 and result.stdout.count("Epoch 2/2") == 1
