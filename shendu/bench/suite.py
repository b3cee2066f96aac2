"""The benchmark suite: shendu against PyTorch (and Keras 3 on JAX when installed), each in its own process.

    python -m benchmarks [--threads 2] [--rounds 5] [--workloads mlp,cnn,...] [--smoke] [--out docs/benchmarks.md]
    shendu bench ...                      (the same)

For every workload each framework runs in a FRESH process (``worker.py``), the frameworks taking turns
round after round, so no framework's idle thread pool or allocator state slows another, and a slow
minute of a shared machine hits every framework alike. Every process gets the same explicit thread
count (OMP/OpenBLAS/MKL/numba variables and ``torch.set_num_threads``), the same data and the same
initial weights (tf.keras layouts, converted for PyTorch), Adam and float32. Reported per workload:
the median ms/step over rounds and its spread (min-max), the ratio to the fastest framework, peak RSS,
achieved GFLOP/s against the best BLAS matrix-product rate measured in the same run, and the BLAS each
process loaded. Also: the time to import each package, and a contention run (one busy pure-Python
process beside the workload) reported as the slowdown against the quiet figure.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from shendu.bench import report, spec

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
ROOT = HERE.parent.parent            # the folder holding the shendu package the suite was started from
# steps per timed block: enough that a block lasts long against timer noise, short enough for slow cases
STEPS = {"mlp": 50, "cnn": 20, "lstm": 10, "bilstm": 5, "dcgan": 5, "bigconv": 3, "predict": 10, "bncnn": 20,
         "sepconv": 10, "transformer": 5, "textcnn": 10, "lstmseq": 10}
HOG = "while True: pass"             # the competing CPU-bound process of the contention run


def child_env(threads: int, framework: str) -> dict:
    """The environment of a worker: explicit thread counts for every pool, this shendu on the path."""
    env = dict(os.environ)
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):   # set for old OpenBLAS builds; they halve SGEMM
        env.pop(key, None)
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[key] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-")[1]   # XLA sizes its pool by the cores: see worker.py
    return env


def run_worker(args: list, threads: int, framework: str, timeout: float = 900) -> dict:
    """Start worker.py with ``args`` in a fresh process and read its JSON line."""
    proc = subprocess.run([sys.executable, str(WORKER), *map(str, args)], env=child_env(threads, framework),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"error": " | ".join(tail) or f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Hog:
    """A busy pure-Python process beside the benchmark, for the contention run."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", HOG])
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        return False


def available_frameworks(wanted: list) -> tuple:
    """The frameworks that can run here, and a note for each one skipped."""
    ok, notes = [], []
    for fw in wanted:
        need = ["torch"] if fw == "torch" else (["keras", fw.split("-")[1]] if fw.startswith("keras-") else [])
        missing = [m for m in need if importlib.util.find_spec(m) is None]
        if missing:
            notes.append(f"{fw}: skipped, {' and '.join(missing)} not installed "
                         f"(`pip install shendu[bench]` adds Keras 3 on JAX)")
        else:
            ok.append(fw)
    return ok, notes


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def run(opts) -> dict:
    frameworks, notes = available_frameworks(opts.frameworks.split(","))
    workloads = [w for w in opts.workloads.split(",") if w]
    unknown = [w for w in workloads if w not in spec.WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {', '.join(spec.WORKLOADS)}")
    t, quiet = opts.threads, opts.quiet
    result = {"threads": t, "smoke": opts.smoke, "rounds": opts.rounds, "frameworks": frameworks, "notes": notes,
              "machine": machine(), "gemm": {}, "workloads": {}, "contention": {}, "import": {}, "info": {}}
    flag = ["smoke"] if opts.smoke else []
    gemm_fws = [fw for fw in ("shendu", "torch") if fw in frameworks]
    n = 256 if opts.smoke else 1024
    for fw in gemm_fws:
        rates = [run_worker(["gemm", fw, n], t, fw).get("gflops", 0.0) for _ in range(1 if opts.smoke else 3)]
        result["gemm"][fw] = max(rates)
    _log(f"GEMM peak (GFLOP/s): {result['gemm']}", quiet)

    def measure(workload, fw, rounds_out, hog=False):
        steps = 2 if opts.smoke else (opts.steps or STEPS[workload])
        args = [fw, workload, steps, 1 if opts.smoke else opts.blocks, 1 if opts.smoke else 2, t, *flag]
        if hog:
            with Hog():
                out = run_worker(args, t, fw)
        else:
            out = run_worker(args, t, fw)
        rounds_out.setdefault(fw, []).append(out)
        if "blas" in out:
            result["info"][fw] = {"blas": out["blas"], "versions": out["versions"]}
        _log(f"  {workload:8s} {fw:14s} {'(contended) ' if hog else ''}"
             f"{out.get('ms', out.get('error', out.get('skipped')))}", quiet)

    for workload in workloads:
        rounds = {}
        for r in range(opts.rounds):
            for fw in frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]:   # alternate who starts
                measure(workload, fw, rounds)
        result["workloads"][workload] = summarize(rounds, spec.flops(workload, opts.smoke), result["gemm"])
    for workload in [w for w in opts.contention.split(",") if w and w in workloads]:
        rounds = {}
        for r in range(opts.contention_rounds):
            for fw in frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]:
                measure(workload, fw, rounds, hog=True)
        result["contention"][workload] = summarize(rounds, spec.flops(workload, opts.smoke), result["gemm"])
    for package in ["shendu"] + [fw for fw in ("torch",) if fw in frameworks]:
        times = [run_worker(["import", package], t, package).get("import_s") for _ in range(opts.rounds)]
        result["import"][package] = [x for x in times if x is not None]
    return result


def summarize(rounds: dict, flop: float, gemm: dict) -> dict:
    """Per framework: median ms/step over rounds, spread, peak RSS, GFLOP/s; errors and skips kept as notes."""
    peak = max(gemm.values()) if gemm else None
    out = {}
    for fw, runs in rounds.items():
        ok = [r for r in runs if "ms" in r]
        if not ok:
            out[fw] = {"note": next((r.get("error") or r.get("skipped") for r in runs), "no result")}
            continue
        ms = [r["ms"] for r in ok]
        med = statistics.median(ms)
        gflops = flop / (med / 1000) / 1e9
        out[fw] = {"ms": med, "min": min(ms), "max": max(ms), "rounds": ms,
                   "rss_mb": statistics.median(r["rss_mb"] for r in ok), "gflops": gflops,
                   "peak_pct": 100 * gflops / peak if peak else None}
    timed = {fw: v["ms"] for fw, v in out.items() if "ms" in v}
    if timed:
        best = min(timed.values())
        for fw, ms in timed.items():
            out[fw]["vs_fastest"] = ms / best
            peers = [v for f, v in timed.items() if f != fw]
            out[fw]["vs_fastest_peer"] = ms / min(peers) if peers else None
    return out


def machine() -> dict:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "load_at_start": load,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of every framework (default 2)")
    p.add_argument("--rounds", type=int, default=5, help="fresh processes per framework and workload")
    p.add_argument("--steps", type=int, default=None, help="steps per timed block (default: per workload)")
    p.add_argument("--blocks", type=int, default=3, help="timed blocks per process; the process reports their median")
    p.add_argument("--workloads", default=",".join(spec.WORKLOADS), help="comma-separated, from: "
                   + ", ".join(spec.WORKLOADS))
    p.add_argument("--frameworks", default="shendu,torch,keras-jax,keras-jax-fit",
                   help="shendu, torch, keras-<backend>[-fit] (Keras 3 train_on_batch, or fit)")
    p.add_argument("--contention", default="mlp,cnn,lstm", help="workloads also run beside a busy process "
                   "('' for none)")
    p.add_argument("--contention-rounds", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round, no contention: checks it all runs")
    p.add_argument("--out", default=None, help="the Markdown report (default: docs/benchmarks.md of the source "
                   "checkout, else ./benchmarks.md; '-' for none)")
    p.add_argument("--json", default=None, help="also write the raw results here")
    p.add_argument("--quiet", action="store_true")
    opts = p.parse_args(argv)
    if opts.smoke:
        opts.rounds, opts.contention = 1, ""
    return opts


def main(argv=None) -> int:
    opts = parse(argv)
    result = run(opts)
    text = report.markdown(result)
    print(text)
    # a source checkout keeps its report in docs/; an installed shendu writes to the working folder
    out = opts.out or str(ROOT / "docs" / "benchmarks.md" if (ROOT / "pyproject.toml").exists() else "benchmarks.md")
    if out != "-":
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=1))
    return 0
