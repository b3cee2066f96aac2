"""The Markdown report of a benchmark run (docs/benchmarks.md)."""
from __future__ import annotations

import statistics

from shendu.bench import spec


def _f(value, fmt="{:.2f}", missing="–"):
    return missing if value is None else fmt.format(value)


def _table(rows: dict, contention: dict | None = None) -> list:
    lines = []
    for workload, per_fw in rows.items():
        lines.append(f"\n### {spec.WORKLOADS[workload]}\n")
        lines.append("| framework | ms/step (median) | spread (min–max) | vs fastest | peak RSS MB | GFLOP/s | % of GEMM peak |")
        lines.append("|---|---|---|---|---|---|---|")
        for fw, v in per_fw.items():
            if "ms" not in v:
                lines.append(f"| {fw} | – | {v['note']} | | | | |")
                continue
            lines.append(f"| {fw} | {v['ms']:.2f} | {v['min']:.2f}–{v['max']:.2f} | {v['vs_fastest']:.2f} | "
                         f"{v['rss_mb']:.0f} | {v['gflops']:.1f} | {_f(v['peak_pct'], '{:.0f} %')} |")
    return lines


def markdown(result: dict) -> str:
    m, t = result["machine"], result["threads"]
    lines = ["# Benchmarks", "",
             "Written by `python -m benchmarks` (or `shendu bench`); see `shendu/bench/suite.py` for the method: "
             "every framework runs each workload in its own fresh process, the frameworks taking turns over "
             f"{result['rounds']} round(s), all with {t} thread(s), the same data and initial weights, Adam, float32. "
             "A ratio below 1 means shendu is faster.",
             ""]
    if result["smoke"]:
        lines += ["**Smoke setting: tiny sizes, one round. These figures say only that every part runs.**", ""]
    lines += ["## Machine", "",
              f"- CPU: {m['cpu']}, {m['cores']} logical cores; {m['system']}; Python {m['python']}",
              f"- load average at start: {_f(m['load_at_start'] and m['load_at_start'][0])} "
              "(other processes on the machine share the cores)",
              f"- threads per framework: {t}; run {m['date']}"]
    for fw, info in result["info"].items():
        versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        lines.append(f"- {fw}: {versions}; threadpools: {'; '.join(info['blas']) or 'none reported'}")
    for fw, rate in result["gemm"].items():
        lines.append(f"- GEMM peak ({'NumPy' if fw == 'shendu' else fw}, float32 1024×1024 product): "
                     f"{rate:.1f} GFLOP/s")
    lines += [f"- {note}" for note in result["notes"]]

    lines += ["", "## Summary: shendu / fastest peer (median ms/step)", "",
              "| workload | shendu ms | fastest peer | peer ms | ratio | shendu % of GEMM peak |", "|---|---|---|---|---|---|"]
    for workload, per_fw in result["workloads"].items():
        ours = per_fw.get("shendu", {})
        peers = {fw: v["ms"] for fw, v in per_fw.items() if fw != "shendu" and "ms" in v}
        if "ms" not in ours or not peers:
            lines.append(f"| {spec.WORKLOADS[workload]} | {_f(ours.get('ms'))} | – | – | – | |")
            continue
        best = min(peers, key=peers.get)
        lines.append(f"| {spec.WORKLOADS[workload]} | {ours['ms']:.2f} | {best} | {peers[best]:.2f} | "
                     f"**{ours['ms'] / peers[best]:.2f}** | {_f(ours['peak_pct'], '{:.0f} %')} |")
    if result["import"]:
        lines += ["", "## Import time (fresh process, median seconds)", "", "| package | seconds | spread |", "|---|---|---|"]
        for package, times in result["import"].items():
            if times:
                lines.append(f"| `import {package}` | {statistics.median(times):.3f} | "
                             f"{min(times):.3f}–{max(times):.3f} |")
    if result["contention"]:
        lines += ["", "## Contention: one busy pure-Python process beside the workload", "",
                  "| workload | framework | quiet ms | contended ms | slowdown |", "|---|---|---|---|---|"]
        for workload, per_fw in result["contention"].items():
            for fw, v in per_fw.items():
                quiet = result["workloads"].get(workload, {}).get(fw, {}).get("ms")
                if "ms" in v and quiet:
                    lines.append(f"| {spec.WORKLOADS[workload]} | {fw} | {quiet:.2f} | {v['ms']:.2f} | "
                                 f"{v['ms'] / quiet:.2f}× |")
    lines += ["", "## Every framework, every workload"] + _table(result["workloads"])
    lines += ["", "GFLOP/s counts the multiply-adds of the matrix products and convolutions only (2 per "
              "multiply-add; a training step as 3 forward passes), see `shendu/bench/spec.py`.", ""]
    return "\n".join(lines)
