#!/usr/bin/env python3
"""thrml vs pbit, side by side, on the same graph, weights, chain count and sweep count.

Flips are counted the same way for both: nodes x chains x sweeps. thrml runs block Gibbs with one
block per color class of the pbit graph file (so both update the same independent sets), with chains
as a vmapped batch, timed after a warm-up call has compiled it. pbit runs 'pbit sample' on the same
graph file. Writes one JSON with both throughputs and their ratio.

    python3 scripts/thrml_compare.py --graph p14.json --chains 16384 --sweeps 100 --out cmp.json \
        --pbit build/release/pbit --backend cuda

Needs JAX, equinox, jaxtyping and thrml (installed from a wheel built from thrml's source; the
wheel is never committed). Untested without a GPU machine.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time


def run_thrml(graph, chains, sweeps, seed):
    import jax
    import jax.numpy as jnp
    from thrml import Block, SamplingSchedule, SpinNode, sample_states
    from thrml.models import IsingEBM, IsingSamplingProgram, hinton_init

    n = graph["num_nodes"]
    nodes = [SpinNode() for _ in range(n)]
    edges = [(nodes[i], nodes[j]) for i, j, _ in graph["edges"]]
    weights = jnp.array([w for _, _, w in graph["edges"]], dtype=jnp.float32)
    biases = jnp.array(graph.get("biases", [0.0] * n), dtype=jnp.float32)
    model = IsingEBM(nodes, edges, biases, weights, jnp.array(1.0))
    colors = graph["coloring"]
    free_blocks = [Block([nodes[i] for i in range(n) if colors[i] == c]) for c in range(max(colors) + 1)]
    program = IsingSamplingProgram(model, free_blocks, clamped_blocks=[])
    # sweeps - 1 warm-up sweeps and one observed sample: `sweeps` sweeps in total.
    schedule = SamplingSchedule(n_warmup=sweeps - 1, n_samples=1, steps_per_sample=1)
    key = jax.random.key(seed)
    k_init, k_run = jax.random.split(key)
    init = hinton_init(k_init, model, free_blocks, (chains,))
    keys = jax.random.split(k_run, chains)

    def one_chain(k, *state):
        return sample_states(k, program, schedule, list(state), [], [Block(nodes)])

    run = jax.jit(jax.vmap(one_chain))
    jax.block_until_ready(run(keys, *init))  # compile and warm up
    t0 = time.perf_counter()
    jax.block_until_ready(run(keys, *init))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "flips_per_ns": n * chains * sweeps / wall / 1e9, "device": str(jax.devices()[0])}


def run_pbit(pbit, graph_path, chains, sweeps, backend, seed):
    cfg = {"chains": chains, "seed": seed, "backend": backend, "schedule": {"warmup": sweeps, "samples": 0}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cfg, f)
        cfg_path = f.name
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out_path = f.name
    subprocess.run([pbit, "sample", "--graph", graph_path, "--config", cfg_path, "--out", out_path], check=True)
    with open(out_path) as f:
        run = json.load(f)["run"]
    return {"wall_s": run["wall_s"], "flips_per_ns": run["flips_per_ns"], "device": run["device"], "git_sha": run["git_sha"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", required=True, help="pbit graph JSON with a coloring (pbit graph --topology ... --out)")
    ap.add_argument("--chains", type=int, required=True)
    ap.add_argument("--sweeps", type=int, default=100)
    ap.add_argument("--pbit", default="build/release/pbit")
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.chains < 1 or a.sweeps < 2:
        sys.exit("thrml_compare: need --chains >= 1 and --sweeps >= 2")
    with open(a.graph) as f:
        graph = json.load(f)
    if "coloring" not in graph:
        sys.exit("thrml_compare: the graph file has no coloring; write it with 'pbit graph'")
    p = run_pbit(a.pbit, a.graph, a.chains, a.sweeps, a.backend, a.seed)
    t = run_thrml(graph, a.chains, a.sweeps, a.seed)
    res = {"graph": a.graph, "num_nodes": graph["num_nodes"], "num_edges": len(graph["edges"]), "chains": a.chains,
           "sweeps": a.sweeps, "flip_definition": "nodes x chains x sweeps", "pbit": p, "thrml": t,
           "pbit_over_thrml": p["flips_per_ns"] / t["flips_per_ns"]}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
