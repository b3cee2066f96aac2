"""Time one data-parallel training step of the tutorials' CNN (and the MNIST-rows LSTM), split into compute
and gradient allreduce; run it alone and under mpiexec to see the scaling:

    OMP_NUM_THREADS=1 python benchmarks/distributed_step.py --model cnn --batch 64
    OMP_NUM_THREADS=1 shendu run -n 2 --threads 1 benchmarks/distributed_step.py --model cnn --batch 64

Worker 0 prints the median step time, the median time inside the fused gradient allreduce (this includes
waiting for the slowest worker), the allreduce alone on a buffer of the gradients' size (after a barrier,
so no waiting), and the gradient bytes each step moves.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import shendu as tf
from shendu.demo import tutorial_cnn
from shendu.distribute.comm import world

keras = tf.keras


def lstm():
    return keras.Sequential([keras.Input((28, 28)), keras.layers.LSTM(64), keras.layers.Dense(10, activation="softmax")])


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times, self._start = [], 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="cnn", choices=["cnn", "lstm"])
    parser.add_argument("--batch", type=int, default=64, help="the global batch")
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    comm = world()
    spent = []
    reduce = comm.allreduce_sum

    def timed_allreduce(buffer):
        start = time.perf_counter()
        out = reduce(buffer)
        spent.append(time.perf_counter() - start)
        return out

    comm.allreduce_sum = timed_allreduce      # count the time the step spends in collectives
    strategy = tf.distribute.MPIStrategy()
    tf.set_seed(0)
    with strategy.scope():
        model = tutorial_cnn() if args.model == "cnn" else lstm()
        model.compile("adam", "sparse_categorical_crossentropy")
    shape = (28, 28, 1) if args.model == "cnn" else (28, 28)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch * (args.steps + 2),) + shape, dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    timer = StepTimer()
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    # per step: one gradient allreduce and one small metric-state allreduce; keep the gradient ones
    params = sum(w.size for w in model.get_weights())
    grad_times = spent[0::2][2:]
    step = statistics.median(timer.times[2:])
    in_allreduce = statistics.median(grad_times) if comm.size > 1 else 0.0
    buffer = np.ones(params, "float32")
    alone = []
    for _ in range(20):
        if comm.size > 1:
            comm.barrier()
        start = time.perf_counter()
        reduce(buffer)
        alone.append(time.perf_counter() - start)
    if comm.rank == 0:
        print(f"{args.model}: {comm.size} worker(s), global batch {args.batch} ({args.batch // comm.size} each), "
              f"{params:,} parameters = {params * 4 / 1e6:.2f} MB of float32 gradients")
        print(f"  step {step * 1e3:.1f} ms = compute {(step - in_allreduce) * 1e3:.1f} ms + in allreduce "
              f"{in_allreduce * 1e3:.2f} ms; allreduce alone {statistics.median(alone) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
