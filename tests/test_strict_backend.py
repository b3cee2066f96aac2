"""The array seam, proven without a GPU: shendu runs on tests/strict_xp.py, NumPy whose arrays refuse implicit
conversion to NumPy and whose functions refuse host arrays (as CuPy's do), counting every host transfer.
The op tables, a fit of a CNN and of an LSTM, saving and loading all run on it, so no code path reaches
NumPy behind ``backend.xp``'s back. (SHENDU_STRICT_BACKEND=1 also adds it to the ``backend`` fixture, so
every op-table row runs on it as its own test.)"""
import importlib

import numpy as np
import pytest

import shendu as sd
import strict_xp
from helpers import cases, check_row

keras = sd.keras
OP_TABLES = ["activation", "elementwise", "indexing", "linalg", "math", "nn", "reduce", "shape"]


def _cupy_or_skip():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as error:          # not installed, no driver, no device: all mean "no GPU here"
        pytest.skip(f"the GPU suite runs where CuPy and a CUDA GPU exist; here: {type(error).__name__}: {error}")


@pytest.fixture
def strict():
    sd.set_backend(strict_xp.module)
    sd.set_seed(0)
    strict_xp.reset_transfers()
    yield strict_xp
    sd.set_backend("numpy")


@pytest.fixture(params=["strict", pytest.param("cupy", marks=pytest.mark.gpu)])
def device(request, strict):
    """The strict arrays everywhere; CuPy's real device arrays where a GPU exists."""
    if request.param == "cupy":
        _cupy_or_skip()
        sd.set_backend("cupy")
        sd.set_seed(0)
    return request.param


def test_strict_arrays_refuse_implicit_conversion_and_count_transfers(strict):
    a = strict.module.asarray(np.arange(3.0))
    assert strict.transfers == {"to_device": 1, "to_host": 0}
    for implicit in (lambda: np.asarray(a), lambda: np.exp(a), lambda: a + np.ones(3), lambda: np.ones(3) * a,
                     lambda: strict.module.exp(np.ones(3))):
        with pytest.raises(TypeError):
            implicit()
    assert isinstance(strict.module.exp(a) + 1, strict.StrictArray)
    assert isinstance(a.sum(), strict.StrictArray)                 # reductions stay on the device, as CuPy's
    assert float(a.sum()) == 3.0 and sd.backend.to_numpy(a).tolist() == [0, 1, 2]
    assert strict.transfers == {"to_device": 1, "to_host": 2}


@pytest.mark.parametrize("table", OP_TABLES)
def test_every_op_table_row_runs_on_strict_arrays(device, table):
    module = importlib.import_module(f"ops.test_{table}")
    failures = []
    for row, shapes in [param.values for param in cases(module.ROWS)]:
        try:
            check_row(row, shapes)
        except Exception as error:         # collect every row that fails, not just the first
            failures.append(f"{row.name} {shapes}: {type(error).__name__}: {str(error)[:200]}")
    assert not failures, "\n".join(failures)


def _models():
    cnn = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="gelu"),
                            keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                            keras.layers.Dense(3, kernel_initializer="truncated_normal")])
    lstm = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, dropout=0.2),
                             keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    return {"cnn": (cnn, (8, 8, 1)), "lstm": (lstm, (5, 3))}


@pytest.mark.parametrize("name", ["cnn", "lstm"])
def test_fit_evaluate_predict_save_and_load_on_strict_arrays(strict, device, name, tmp_path):
    model, shape = _models()[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64,) + shape).astype("float32"), np.arange(64) % 3
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    strict.reset_transfers()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    steps = 4
    assert np.isfinite(history.history["loss"][0])
    array_type = sd.backend.xp.ndarray
    if device == "strict":      # each batch goes to the device once (x, y, at most one scalar), never once per op
        assert strict.transfers["to_device"] <= 3 * steps, strict.transfers
    assert all(isinstance(w.data, array_type) for w in model.weights)
    assert isinstance(model.predict(x, verbose=0), np.ndarray)
    loss = model.evaluate(x, y, verbose=0)[0]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.weights[0].data, array_type)
    assert loaded.evaluate(x, y, verbose=0)[0] == pytest.approx(loss, rel=1e-6)
    loaded.set_weights([w * 0 for w in model.get_weights()])
    assert all(not w.any() for w in loaded.get_weights())
