"""shendu/ops/compiled.py: the kernels' plumbing, and every kernel split over threads.

A kernel split over ranges of images (or rows) on the worker pool must give the one-thread result bit for
bit (each output element is one thread's work, in the same order), and that result is the NumPy formula.
Splits are forced with a tiny ``MIN_PART_WORK`` and a thread count above the machine's, uneven on purpose.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import shendu as sd
from shendu import backend, ops
from shendu.ops import compiled, conv_kernels, conv_loops
from shendu.ops import conv as conv_module
from shendu.ops.conv_fused import conv2d_act

pytest.importorskip("numba")


@pytest.fixture
def split(monkeypatch):
    """Returns a function running ``f()`` once on one thread and once split over three, both results."""
    monkeypatch.setattr(compiled, "SPLIT", True)

    def both(f):
        monkeypatch.setattr(compiled, "threads", lambda: 1)
        one = f()
        monkeypatch.setattr(compiled, "threads", lambda: 3)
        monkeypatch.setattr(compiled, "MIN_PART_WORK", 1)
        many = f()
        monkeypatch.setattr(compiled, "MIN_PART_WORK", 2 ** 17)
        return one, many
    return both


def window(x_shape, k, s, padding, d=(1, 1)):
    return conv_module._geometry("t", x_shape[1:3], k, s, d, padding)


def same(a, b):
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_parts_cover_the_rows_and_keep_small_work_on_one_thread(monkeypatch):
    monkeypatch.setattr(compiled, "threads", lambda: 2)
    monkeypatch.setattr(compiled, "SPLIT", False)
    monkeypatch.setattr(backend._threads, "own", False)
    assert compiled.parts(64, 10 ** 12) == [(0, 64)]                            # splitting off
    monkeypatch.setattr(compiled, "SPLIT", True)
    assert compiled.parts(64, 100) == [(0, 64)]                                 # too little work to split
    assert compiled.parts(64, 64 * compiled.MIN_PART_WORK) == [(0, 32), (32, 64)]
    assert compiled.parts(1, 10 ** 9) == [(0, 1)]                               # one image: one part
    assert compiled.parts(0, 0) == [(0, 0)]
    assert compiled.parts(7, 10 ** 9, most=3) == [(0, 2), (2, 4), (4, 7)]


def test_run_parts_runs_every_part_and_raises_a_part_s_error():
    seen, threads = [], set()

    def kernel(out, r0, r1):
        seen.append((r0, r1))
        threads.add(threading.get_ident())
        out[r0:r1] = 1
    out = np.zeros(10)
    compiled.run_parts(kernel, [(0, 3), (3, 7), (7, 10)], (out,))
    assert sorted(seen) == [(0, 3), (3, 7), (7, 10)] and out.sum() == 10 and len(threads) >= 2

    def broken(r0, r1):
        if r0:
            raise ValueError("part")
    with pytest.raises(ValueError, match="part"):
        compiled.run_parts(broken, [(0, 1), (1, 2)])


@pytest.mark.parametrize("spin", [0.0, 0.005, 0.5], ids=["sleeping", "polling", "awake throughout"])
def test_workers_poll_then_sleep_and_are_woken(monkeypatch, spin):
    """Jobs reach a worker whether it polls or sleeps: with no polling it sleeps at once and is notified; with
    a short poll it has fallen asleep after a pause; the poster's wait polls or sleeps the same way."""
    monkeypatch.setattr(compiled, "SPIN_SECONDS", spin)
    out = np.zeros(4)

    def kernel(value, r0, r1):
        out[r0:r1] = value
    for value in range(1, 30):
        compiled.run_parts(kernel, [(0, 2), (2, 4)], (value,))
        assert (out == value).all()
    if spin == 0.005:
        worker = compiled._workers(1)[0]
        for _ in range(200):                # polling ends after SPIN_SECONDS: then it sleeps
            if worker.sleeping:
                break
            threading.Event().wait(0.005)
        assert worker.sleeping
        compiled.run_parts(kernel, [(0, 2), (2, 4)], (-1,))
        assert (out == -1).all()


def test_the_compiled_poll_sees_another_thread_s_store():
    """The pool's compiled poll: True at once when the flag holds the value, False after its polls when it never
    does, and True once another thread stores the value (each poll reads the flag again, not a hoisted copy)."""
    spin = compiled.build("spin", compiled._build_spin)[0]
    flags, counter = np.zeros(2, np.int64), np.zeros(1, np.int64)
    assert spin(flags, 0, 0, 10, counter)
    assert not spin(flags, 1, 5, 1000, counter) and counter[0] == 1000
    setter = threading.Timer(0.02, lambda: flags.__setitem__(1, 5))
    setter.start()
    assert spin(flags, 1, 5, 1 << 50, counter)       # would poll for days if the read were hoisted
    setter.join()


def test_run_parts_from_two_threads_at_once():
    """Layers called from two threads (a data pipeline's): one holds the workers, the other runs its own parts
    in turn; both get every part done."""
    results, barrier = {}, threading.Barrier(2)

    def job(name):
        out = np.zeros(6)

        def kernel(r0, r1):
            out[r0:r1] += 1
        barrier.wait()
        for _ in range(200):
            compiled.run_parts(kernel, [(0, 2), (2, 4), (4, 6)])
        results[name] = out

    threads = [threading.Thread(target=job, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all((results[k] == 200).all() for k in "ab")


def test_build_falls_back_to_none_and_disable_sticks(monkeypatch):
    monkeypatch.delitem(compiled._built, "t-broken", raising=False)

    def make(numba):
        raise RuntimeError("cannot build here")
    assert compiled.build("t-broken", make) is None
    assert compiled.build("t-ok", lambda numba: "kernels") == "kernels"
    compiled.disable("t-ok")
    assert compiled.build("t-ok", lambda numba: "kernels") is None
    compiled._built.pop("t-ok"), compiled._built.pop("t-broken")


def test_the_pool_is_made_again_after_fork():
    compiled.run_parts(lambda r0, r1: None, [(0, 1), (1, 2)])
    pid = os.fork()
    if pid == 0:                                    # the child: its inherited pool has no threads
        try:
            out = np.zeros(4)
            compiled.run_parts(lambda o, r0, r1: o.__setitem__(slice(r0, r1), 1), [(0, 2), (2, 4)], (out,))
            os._exit(0 if out.sum() == 4 else 1)
        except BaseException:
            os._exit(2)
    assert os.waitpid(pid, 0)[1] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_loops_split_exactly(split, dtype):
    rng = np.random.default_rng(0)
    a = np.maximum(rng.standard_normal((5, 7, 3, 4)), 0).astype(dtype)
    gy = rng.standard_normal(a.shape).astype(dtype)
    one, many = split(lambda: conv_loops.relu_mask(gy, a))
    same(one, many)
    same(one, np.where(a > 0, gy, 0))
    z, b = rng.standard_normal((37, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)

    def bias_relu():
        y = z.copy()
        conv_loops.bias_relu(y, b, True)
        return y
    one, many = split(bias_relu)
    same(one, many)
    same(one, np.maximum(z + b, 0))

    def leaky():
        x = sd.tensor(a - 0.5, requires_grad=True)
        y = ops.leaky_relu(x, alpha=0.2)
        y.backward(gy)
        return y.numpy(), x.grad.numpy()
    one, many = split(leaky)
    same(one, many)
    z2 = a - 0.5
    same(one, (np.where(z2 > 0, z2, z2 * dtype(0.2)), np.where(z2 > 0, gy, gy * dtype(0.2))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, k, s, padding", [
    ((5, 6, 6, 3), (2, 2), (2, 2), "valid"),        # windows that tile the image
    ((3, 7, 7, 4), (3, 3), (2, 2), "same"),         # overlapping, padded
    ((1, 5, 4, 2), (2, 2), (2, 2), "same"),         # one image: nothing to split
], ids=str)
def test_max_pool_splits_exactly(split, dtype, x_shape, k, s, padding):
    rng = np.random.default_rng(1)
    w = window(x_shape, k, s, padding)
    xpad = conv_module._pad(np.round(rng.standard_normal(x_shape) * 2).astype(dtype), w.pads, -np.inf)
    one, many = split(lambda: conv_loops.max_pool(xpad, w))
    same(one, many)
    gy = rng.standard_normal(one[0].shape).astype(dtype)
    one, many = split(lambda: conv_loops.max_pool_grad(gy, one[1], w, xpad.shape))
    same(one, many)
    expected = np.zeros(xpad.shape, dtype)                  # the formula: dy routed to each window's argmax
    arg = conv_loops.max_pool(xpad, w)[1]
    for n, i, j, c in np.ndindex(gy.shape):
        a, b = divmod(int(arg[n, i, j, c]), w.k[1])
        expected[n, i * w.s[0] + a, j * w.s[1] + b, c] += gy[n, i, j, c]
    same(one, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, k, s, padding, d", [
    ((5, 7, 6, 4), (4, 4), (2, 2), "same", (1, 1)),
    ((3, 9, 9, 2), (3, 3), (1, 1), "valid", (2, 2)),
], ids=str)
def test_im2col_and_col2im_split_exactly(split, monkeypatch, dtype, x_shape, k, s, padding, d):
    rng = np.random.default_rng(2)
    w = window(x_shape, k, s, padding, d)
    x = rng.standard_normal(x_shape).astype(dtype)
    one, many = split(lambda: conv_kernels.im2col_padded(x, w))
    same(one, many)
    xpad = conv_module._pad(x, w.pads)
    same(one, conv_module._windows(xpad, w).reshape(one.shape))
    cols = rng.standard_normal((x_shape[0], *w.out, *w.k, x_shape[-1])).astype(dtype)
    one, many = split(lambda: conv_kernels.col2im_cropped(cols, w, x_shape[1:3]))
    same(one, many)
    padded = (x_shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_shape[1:3], w.pads)), x_shape[-1])
    assert np.abs(one - conv_module._crop(conv_module._col2im(cols, w, padded), w.pads)).max() <= (
        1e-5 if dtype == np.float32 else 1e-12)
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", cols[:2].nbytes)        # blocks of two images, split
    a = rng.standard_normal((x_shape[0] * w.out[0] * w.out[1], 3)).astype(dtype)
    b = rng.standard_normal((3, k[0] * k[1] * x_shape[-1])).astype(dtype)
    one, many = split(lambda: conv_kernels.matmul_col2im(a, b, w, x_shape[1:3]))
    same(one, many)


def test_fused_conv_splits_over_images_with_one_thread_products(split):
    rng = np.random.default_rng(3)
    x, K, bias = rng.standard_normal((4, 8, 8, 3)), rng.standard_normal((3, 3, 3, 5)), rng.standard_normal(5)

    def step():
        ts = [sd.tensor(v.astype(np.float32), requires_grad=True) for v in (x, K, bias)]
        y = conv2d_act(*ts, padding="same")
        y.backward(np.cos(np.arange(y.size)).reshape(y.shape).astype(np.float32))
        return tuple([y.numpy()] + [t.grad.numpy() for t in ts])
    one, many = split(step)
    same(one[:2], many[:2])                 # y and dx: each image's own products and loops, bit for bit
    for o, m in zip(one[2:], many[2:]):     # dK, dbias: each thread's partial sum, then added in image order
        np.testing.assert_allclose(m, o, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, k, s, padding", [((5, 7, 6, 3), (4, 4), (2, 2), "same"),
                                                    ((4, 6, 6, 2), (3, 3), (1, 1), "same")], ids=str)
def test_blocked_im2col_products_split_over_images(split, monkeypatch, dtype, x_shape, k, s, padding):
    """cols @ b + bias and colsᵀ c a block of images at a time, the images split over threads: cols @ b is each
    image's own rows (bit for bit), colsᵀ c each part's sum, added in image order (the formula's value)."""
    rng = np.random.default_rng(5)
    w = window(x_shape, k, s, padding)
    x = rng.standard_normal(x_shape).astype(dtype)
    width, rows = k[0] * k[1] * x_shape[-1], x_shape[0] * w.out[0] * w.out[1]
    b, c, bias = (rng.standard_normal(shape).astype(dtype) for shape in ((width, 4), (rows, 3), (4,)))
    monkeypatch.setattr(conv_kernels, "BLOCK_BYTES", w.out[0] * w.out[1] * width * x.itemsize * 2)   # 2 images
    one, many = split(lambda: conv_kernels.im2col_matmul(x, w, b, c, bias))
    same(one[0], many[0])
    cols = conv_module._windows(conv_module._pad(x, w.pads), w).reshape(rows, width).astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(one[0], cols @ b + bias, rtol=tol, atol=tol)
    for got in (one[1], many[1]):
        np.testing.assert_allclose(got, cols.T @ c, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M, K, N", [(37, 5, 12), (3, 20, 41), (1, 1, 1), (64, 200, 24), (16, 700, 9),
                                     (5, 999, 3)])
def test_products_split_by_rows_columns_or_sum_give_the_product(monkeypatch, dtype, M, K, N):
    """``product`` splits the rows of a tall a (the columns of a wide b) over threads: each element is the same
    dot product as in one call; a long sum (K > 4 max(M, N): a weight gradient) splits over K, the parts'
    partial products added in order."""
    rng = np.random.default_rng(M * K + N)
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    monkeypatch.setattr(compiled, "SPLIT", True)
    monkeypatch.setattr(compiled, "threads", lambda: 3)
    monkeypatch.setattr(compiled, "MIN_PRODUCT_WORK", 1)
    seen = []
    monkeypatch.setattr(compiled, "run_parts", lambda kernel, parts, args: (seen.append(kernel.__name__), [
        kernel(*(args(i) if callable(args) else args), *p) for i, p in enumerate(parts)]))
    got = compiled.product(a, b)
    assert got.dtype == dtype and got.shape == (M, N)
    if K > 4 * max(M, N):
        assert seen == ["_inner_product"]
    elif max(M, N) >= 16:
        assert seen == ["_rows_product" if M >= N else "_cols_product"]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=tol, atol=tol * np.sqrt(K))
    out = np.empty((M, N), dtype)
    assert compiled.product(a, b, out=out) is out
    np.testing.assert_array_equal(out, got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_outer_product_is_a_multiply_with_blas_numbers(dtype):
    """K = 1 (a Dense(1)'s dx = dz Wᵀ): the broadcast multiply, not BLAS's slow K = 1 GEMM; each element is one
    rounded product either way, so the numbers are BLAS's exactly; and the Dense layer's gradient through it."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((128, 1)).astype(dtype), rng.standard_normal((1, 700)).astype(dtype)
    np.testing.assert_array_equal(compiled.product(a, b), a @ b)
    out = np.empty((128, 700), dtype)
    assert compiled.product(a, b, out=out) is out
    np.testing.assert_array_equal(out, a @ b)
    x, W = sd.tensor(rng.standard_normal((5, 7)), requires_grad=True), sd.tensor(rng.standard_normal((7, 1)))
    ops.linear(x, W).backward(np.ones((5, 1)))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((5, 1)) @ W.numpy().T)


def test_a_dense_layer_splits_its_products_in_a_step_on_shendu_s_threads(monkeypatch):
    """Dense forward and backward through ``product``, split: the same values as with splitting off."""
    rng = np.random.default_rng(9)
    x, W, b = rng.standard_normal((40, 30)), rng.standard_normal((30, 20)), rng.standard_normal(20)

    def step():
        ts = [sd.tensor(v.astype(np.float32), requires_grad=True) for v in (x, W, b)]
        y = ops.linear(*ts, relu=True)
        y.backward(np.sin(np.arange(y.size)).reshape(y.shape).astype(np.float32))
        return [y.numpy()] + [t.grad.numpy() for t in ts]
    monkeypatch.setattr(backend._threads, "own", False)
    monkeypatch.setattr(compiled, "SPLIT", False)
    one = step()
    monkeypatch.setattr(compiled, "SPLIT", True)
    monkeypatch.setattr(compiled, "threads", lambda: 2)
    monkeypatch.setattr(compiled, "MIN_PRODUCT_WORK", 1)
    for o, m in zip(one, step()):
        np.testing.assert_allclose(m, o, rtol=1e-6, atol=1e-6)


def _train(model_layers, x, y, steps=3):
    from shendu import keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(model_layers())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    owns = []
    for _ in range(steps):
        model.train_on_batch(x, y)
        owns.append(backend._threads.own)
    return owns, [w.copy() for w in model.get_weights()]


def test_a_cnn_step_runs_on_shendu_s_threads_and_an_mlp_on_blas_s_with_the_same_numbers(monkeypatch):
    """After a step with convolutions over image blocks the policy runs the next on shendu's pool (BLAS on one
    thread in the layers); an MLP's steps keep BLAS's threads. The weights match training with splits off."""
    from shendu import keras
    L = keras.layers
    rng = np.random.default_rng(4)
    images, labels = rng.random((32, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 32)

    def cnn():
        return [L.Input((28, 28, 1)), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                L.Dense(10, activation="softmax")]

    def mlp():
        return [L.Input((28, 28, 1)), L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")]
    monkeypatch.setattr(compiled, "threads", lambda: 2)
    for name in ("own", "split_seen"):              # put back after the test, as the policy had them
        monkeypatch.setattr(backend._threads, name, getattr(backend._threads, name))
    monkeypatch.setattr(backend._threads, "allowed", True)
    owns, split = _train(cnn, images, labels)
    assert owns[1:] == [True, True]                 # chosen from the first step on
    owns_mlp, _ = _train(mlp, images, labels)
    assert not any(owns_mlp[1:])                    # the first step still follows the CNN's last one
    monkeypatch.setattr(backend._threads, "allowed", False)
    owns, plain = _train(cnn, images, labels)
    assert not any(owns)
    for s, p in zip(split, plain):                  # dK's sums over images, part by part: last bits only
        np.testing.assert_allclose(s, p, rtol=1e-5, atol=1e-6)
