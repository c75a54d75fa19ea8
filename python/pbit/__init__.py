"""pbit: simulate probabilistic computers (p-bits, Ising and Boltzmann machines) from Python.

The C++ core (multicolor block Gibbs on sparse graphs, thousands of chains, bit-identical on every
backend) with a numpy face:

    import numpy as np, pbit
    g = pbit.with_random_weights(pbit.random_regular(1000, 3, seed=1), 2, 0.5, 0.1)
    s = pbit.Sampler(g, chains=4096, backend=pbit.best_backend(), seed=42)
    s.set_clamp([0], [1])
    obs = s.run(pbit.SamplingSchedule(warmup=100, samples=100, steps_per_sample=2),
                beta=pbit.BetaSchedule.linear(0.1, 1.0, 100), moments=True)
    obs.node_mean[:2], obs.edge_corr[0]

Arrays come back as numpy arrays that own the results (no copy). Errors are pbit.Error and its
subclasses (InvalidArgument, InvalidGraph, ... also ValueError where the input was bad). docs/PYTHON.md.
"""
from ._pbit import (  # noqa: F401
    BetaSchedule,
    Coloring,
    CudaError,
    Error,
    Graph,
    InvalidArgument,
    InvalidColoring,
    InvalidConfig,
    InvalidGraph,
    IoError,
    NotCompiled,
    Observations,
    OutOfMemory,
    Sampler,
    SamplingSchedule,
    TemperedSampler,
    Topology,
    __version__,
    backend_unavailable_reason,
    backends,
    best_backend,
    color_graph,
    git_sha,
    random_regular,
    square_lattice,
    topology,
    with_random_weights,
)

__all__ = [name for name in dir() if not name.startswith("_")]
