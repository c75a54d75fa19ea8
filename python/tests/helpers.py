"""Exact answers for the Python tests: enumerate every state of a small graph with numpy; where the
checkout is."""
import json
import os
import subprocess

import numpy as np


def source_dir():
    # CTest sets PBIT_SOURCE_DIR; run by hand, the checkout these tests are in.
    return os.environ.get("PBIT_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def all_states(n):
    """2^n x n array of every +-1 state."""
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.int64) * 2 - 1


def exact_moments(g, beta, clamp_nodes=(), clamp_values=(), field_nodes=(), field_values=()):
    """Exact <s_i> and <s_i s_j> (edge order) of the Boltzmann distribution exp(-beta E) of graph g,
    with nodes clamped and a field f on some nodes (E includes -sum f s)."""
    n = g.num_nodes
    i, j, w = g.edges
    s = all_states(n)
    e = -((s[:, i] * s[:, j]) @ w.astype(np.float64) + s @ g.biases.astype(np.float64))
    if len(field_nodes):
        e -= s[:, list(field_nodes)] @ np.asarray(field_values, dtype=np.float64)
    keep = np.ones(len(s), dtype=bool)
    for node, value in zip(clamp_nodes, clamp_values):
        keep &= s[:, node] == value
    s, e = s[keep], e[keep]
    p = np.exp(-beta * (e - e.min()))
    p /= p.sum()
    return p @ s, p @ (s[:, i] * s[:, j])


def worst_z(mean, corr, exact_mean, exact_corr, count):
    """Largest deviation from the exact moments in standard errors of `count` independent samples."""
    z = 0.0
    for got, want in ((mean, exact_mean), (corr, exact_corr)):
        se = np.sqrt(np.maximum(1e-12, (1.0 - want ** 2) / count))
        z = max(z, float(np.max(np.abs(got - want) / se)))
    return z


def cli_sample(cli, tmp_path, cfg):
    """`pbit sample` (the CLI at `cli`) of tmp_path/g.json with the config `cfg` (a dict): its output JSON."""
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    subprocess.run([cli, "sample", "--graph", str(tmp_path / "g.json"), "--config", str(tmp_path / "c.json"),
                    "--out", str(tmp_path / "o.json")], check=True, capture_output=True)
    return json.loads((tmp_path / "o.json").read_text())
