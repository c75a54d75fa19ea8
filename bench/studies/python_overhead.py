#!/usr/bin/env python3
"""Does the Python binding add per-sweep overhead? (issue 22)

The same sampling - Pegasus(14), 1024 chains, the cpu backend, seed 1, SWEEPS sweeps with moments
observed every 10 - through `pbit.Sampler.run` and through the C++ CLI (`pbit sample`, which times
the same Sampler::run), interleaved REPEATS times in one process so both see the same machine state.
Both report flips/ns of the run alone (graph building and process start excluded), and the final
moments must be identical (same seed, same chains). Writes OUT/python_overhead.json and a bar chart
OUT/python_overhead.png.

  PYTHONPATH=build/release/python /usr/bin/python3 bench/studies/python_overhead.py [OUT]
Environment: PBIT_CLI (build/release/pbit), SWEEPS (2000), REPEATS (5), CHAINS (1024).
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import pbit

out = sys.argv[1] if len(sys.argv) > 1 else "out/python_overhead"
cli = os.environ.get("PBIT_CLI", "build/release/pbit")
sweeps = int(os.environ.get("SWEEPS", "2000"))
repeats = int(os.environ.get("REPEATS", "5"))
chains = int(os.environ.get("CHAINS", "1024"))
os.makedirs(out, exist_ok=True)

topo = pbit.topology("pegasus:14")
g = topo.graph
schedule = pbit.SamplingSchedule(warmup=0, samples=sweeps // 10, steps_per_sample=10)
flips = float(chains) * sweeps * g.num_nodes
cfg = {"chains": chains, "seed": 1, "backend": "cpu", "beta": 0.5,
       "schedule": {"warmup": 0, "samples": sweeps // 10, "steps_per_sample": 10}, "observe": {"moments": True}}

with tempfile.TemporaryDirectory() as tmp:
    gpath, cpath, opath = (os.path.join(tmp, n) for n in ("g.json", "c.json", "o.json"))
    g.write(gpath)  # no coloring in the file: both color it with color_graph
    with open(cpath, "w") as f:
        json.dump(cfg, f)
    py_rates, cpp_rates, kernel = [], [], ""
    for r in range(repeats):
        s = pbit.Sampler(g, chains=chains, backend="cpu", seed=1)
        t0 = time.perf_counter()
        obs = s.run(schedule, beta=0.5, moments=True)
        py_rates.append(flips / (time.perf_counter() - t0) / 1e9)
        kernel = s.kernel_description
        subprocess.run([cli, "sample", "--graph", gpath, "--config", cpath, "--out", opath], check=True, capture_output=True)
        with open(opath) as f:
            res = json.load(f)
        cpp_rates.append(flips / res["run"]["wall_s"] / 1e9)
        if not np.array_equal(obs.edge_sum, np.asarray(res["edge_sum"])):
            sys.exit("python_overhead: Python and the CLI sampled different chains")
        print(f"repeat {r + 1}/{repeats}: Python {py_rates[-1]:.3f} flips/ns, C++ CLI {cpp_rates[-1]:.3f} flips/ns", flush=True)

py, cpp = statistics.median(py_rates), statistics.median(cpp_rates)
result = {
    "study": "python_overhead", "topology": topo.name, "num_nodes": g.num_nodes, "chains": chains, "sweeps": sweeps,
    "backend": "cpu", "kernel": kernel, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    "git_sha": pbit.git_sha, "python_flips_per_ns": py_rates, "cpp_flips_per_ns": cpp_rates,
    "python_median_flips_per_ns": py, "cpp_median_flips_per_ns": cpp, "python_over_cpp": py / cpp,
    "identical_moments": True,
}
with open(os.path.join(out, "python_overhead.json"), "w") as f:
    json.dump(result, f, indent=1)
print(f"median: Python {py:.3f} flips/ns, C++ {cpp:.3f} flips/ns, ratio {py / cpp:.3f}")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not found: no plot (apt-get install python3-matplotlib)")
    sys.exit(0)
fig, ax = plt.subplots(figsize=(6, 4))
ax.bar(["C++ (pbit sample)", "Python (pbit.Sampler)"], [cpp, py], color=["#4477aa", "#ee6677"])
for k, rates in enumerate((cpp_rates, py_rates)):
    ax.plot([k] * len(rates), rates, "k.", label="repeats" if k == 0 else None)
ax.set_ylabel("flips per ns (run only)")
ax.set_title(f"{topo.name}, {chains} chains, {sweeps} sweeps, cpu backend\nPython / C++ = {py / cpp:.3f} (medians of {repeats})")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(os.path.join(out, "python_overhead.png"), dpi=100)
