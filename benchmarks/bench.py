"""Train the tutorials' models for a fixed number of steps in shendu and in PyTorch, side by side.

    python benchmarks/bench.py [--threads 2] [--steps 20] [--rounds 5] [--models mlp,cnn,lstm]

Both frameworks run in this one process with the same thread count; rounds alternate between them
and the median milliseconds per training step of each, and their ratio (shendu / PyTorch; < 1 means
shendu is faster), are printed. Two facts of the machines this runs on are handled here:
- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (set for old OpenBLAS builds) halve NumPy's SGEMM, so this
  script removes them for its own process only (it re-executes itself) and prints NumPy's BLAS kernel;
- a freed-and-reallocated large temporary page-faults every step (glibc's mmap threshold), so the
  threshold is raised for the whole process (shendu also does this itself when imported).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# glibc ignores an mmap threshold above 32 MiB; shendu sets the same at import (backend._keep_large_buffers),
# and setting it here too makes PyTorch's side of the process run under the same allocator settings
_TUNED = {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024 * 1024)}


def _reexec_with_clean_env(threads: int) -> None:
    env = dict(os.environ)
    changed = False
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in env:
            del env[key]
            changed = True
    for key, value in {**_TUNED, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}.items():
        if env.get(key) != value:
            env[key] = value
            changed = True
    if changed and env.get("SHENDU_BENCH_CHILD") != "1":
        env["SHENDU_BENCH_CHILD"] = "1"
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


def _shendu_models():
    from shendu.keras import layers, models
    mlp = models.Sequential([layers.Dense(256, activation="relu", input_shape=(784,)),
                             layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    cnn = models.Sequential([layers.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), layers.MaxPooling2D(2),
                             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                             layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    lstm = models.Sequential([layers.Embedding(10000, 64), layers.LSTM(64), layers.Dense(10, activation="softmax")]) \
        if hasattr(layers, "LSTM") else None
    for m in (mlp, cnn, lstm):
        if m is not None:
            m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return {"mlp": mlp, "cnn": cnn, "lstm": lstm}


def _torch_models():
    import torch
    from torch import nn

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.out = nn.Embedding(10000, 64), nn.LSTM(64, 64, batch_first=True), nn.Linear(64, 10)

        def forward(self, x):
            return self.out(self.lstm(self.emb(x))[0][:, -1])

    mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    cnn = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    out = {}
    for name, m in (("mlp", mlp), ("cnn", cnn), ("lstm", LSTMNet())):
        out[name] = (m, torch.optim.Adam(m.parameters(), lr=1e-3))
    return out


def _data(name, rng):
    import numpy as np
    if name == "mlp":
        return rng.random((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
    if name == "cnn":
        return rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    return rng.integers(1, 10000, (64, 100)), rng.integers(0, 10, 64)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per framework")
    parser.add_argument("--models", default="mlp,cnn,lstm")
    args = parser.parse_args(argv)
    _reexec_with_clean_env(args.threads)

    import numpy as np
    import threadpoolctl
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    blas = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    print(f"NumPy BLAS: {'; '.join(blas)} | torch {torch.__version__} threads={torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    ours, theirs = _shendu_models(), _torch_models()
    print(f"{'model':6s} {'shendu ms/step':>15s} {'torch ms/step':>14s} {'ratio':>7s}")
    for name in args.models.split(","):
        if ours.get(name) is None:
            print(f"{name:6s} (not available in this build)")
            continue
        x, y = _data(name, rng)
        model = ours[name]
        tmodel, topt = theirs[name]
        tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy() if name == "cnn" else x)
        ty = torch.from_numpy(y)

        def shendu_round():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            return (time.perf_counter() - start) / args.steps * 1000

        def torch_round():
            start = time.perf_counter()
            for _ in range(args.steps):
                topt.zero_grad()
                loss = F.cross_entropy(tmodel(tx), ty)
                loss.backward()
                topt.step()
            return (time.perf_counter() - start) / args.steps * 1000

        shendu_round(), torch_round()                 # warm-up: allocations, first-call costs
        ours_ms, torch_ms = [], []
        for _ in range(args.rounds):
            ours_ms.append(shendu_round())
            torch_ms.append(torch_round())
        a, b = statistics.median(ours_ms), statistics.median(torch_ms)
        print(f"{name:6s} {a:15.2f} {b:14.2f} {a / b:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
