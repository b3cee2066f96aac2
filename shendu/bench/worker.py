"""One framework, one workload, in this fresh process; prints one JSON line with the timings.

Run by path (``python shendu/bench/worker.py FRAMEWORK WORKLOAD ...``) so that nothing but the framework
under test is imported: its own folder is on sys.path, and ``spec`` and the ``run_*`` modules come from
there. The suite (``suite.py``) starts it with the thread variables already set.

    worker.py import shendu|torch|keras          seconds to import the package, first thing in the process
    worker.py gemm shendu|torch N                GFLOP/s of an N x N float32 matrix product (the BLAS peak)
    worker.py FRAMEWORK WORKLOAD STEPS BLOCKS WARMUP THREADS [smoke]
"""
import sys
import time

if len(sys.argv) == 3 and sys.argv[1] == "import":       # before any other import, so nothing is preloaded
    start = time.perf_counter()
    __import__(sys.argv[2])
    print('{"import_s": %.6f}' % (time.perf_counter() - start))
    raise SystemExit(0)

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402


def _blas() -> list:
    """The BLAS and OpenMP libraries loaded in this process, as threadpoolctl sees them."""
    try:
        import threadpoolctl
    except ImportError:
        return ["threadpoolctl not installed"]
    return [f"{i.get('internal_api')} {i.get('version') or ''} {i.get('architecture') or ''} "
            f"threads={i.get('num_threads')}".replace("  ", " ")
            for i in threadpoolctl.threadpool_info()]


def _gemm(framework: str, n: int, threads: int) -> float:
    import numpy as np
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        mm = torch.mm
    else:
        mm = np.matmul
    reps = max(3, int(2e9 / (2 * n ** 3)))
    times = []
    for _ in range(5):
        mm(a, b)
        start = time.perf_counter()
        for _ in range(reps):
            mm(a, b)
        times.append((time.perf_counter() - start) / reps)
    return 2 * n ** 3 / min(times) / 1e9


def _versions(framework: str) -> dict:
    import numpy as np
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name in {"shendu": ["shendu"], "torch": ["torch"]}.get(framework, ["keras", "jax"]):
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = getattr(mod, "__version__", "?")
    return out


def main(argv) -> dict:
    if argv[0] == "gemm":
        framework, n = argv[1], int(argv[2])
        threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
        return {"gflops": _gemm(framework, n, threads), "blas": _blas(), "versions": _versions(framework)}
    framework, workload, steps, blocks, warmup, threads = argv[0], argv[1], *map(int, argv[2:6])
    smoke = "smoke" in argv[6:]
    fit = framework.endswith("-fit")
    per_call = 1
    if framework == "shendu":
        import run_shendu
        fn = run_shendu.step(workload, smoke)
    elif framework == "torch":
        import torch
        torch.set_num_threads(threads)
        import run_torch
        fn = run_torch.step(workload, smoke)
    elif framework.startswith("keras"):
        if threads < (os.cpu_count() or 1) and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, range(threads))   # XLA has no thread-count setting: give it `threads` cores
        import run_keras
        fn = run_keras.step(workload, smoke, fit=fit)
        per_call = run_keras.FIT_BATCHES if fit else 1
    else:
        raise SystemExit(f"unknown framework {framework!r}")
    if fn is None:
        return {"skipped": f"{workload} is not written for {framework}"}
    calls = max(1, steps // per_call)
    for _ in range(max(1, warmup // per_call)):      # first-call costs: allocations, caches, compilation
        fn()
    ms = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        ms.append((time.perf_counter() - start) / (calls * per_call) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # kilobytes on Linux
    return {"ms": statistics.median(ms), "blocks_ms": ms, "rss_mb": rss_mb, "blas": _blas(),
            "versions": _versions(framework)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
