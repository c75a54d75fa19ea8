"""The Python module on a GPU (the device kit's `python` stage): the cuda backend gives the reference's
chains bit for bit on each sweep kernel, and its state leaves through DLPack as CUDA memory that
torch, CuPy and JAX read in place. Without a usable GPU every test here skips, saying why; with
PBIT_REQUIRE_GPU=1 it fails instead."""
import gc
import os

import numpy as np
import pytest

import pbit


def require_cuda():
    why = pbit.backend_unavailable_reason("cuda")
    if "cuda" in pbit.backends() and why == "":
        return
    if os.environ.get("PBIT_REQUIRE_GPU") == "1":
        pytest.fail("PBIT_REQUIRE_GPU=1 but the cuda backend is unavailable: " + why)
    pytest.skip("no usable GPU: " + why)


def graph():
    g = pbit.topology("pegasus:2").graph
    return pbit.with_random_weights(g, 9, 0.5, 0.2)


def run(backend, chains):
    """A protocol that touches what a model does: a field, a clamp, moments and energies, then more sweeps."""
    g = graph()
    s = pbit.Sampler(g, chains=chains, backend=backend, seed=3)
    s.set_field(None, np.linspace(-0.5, 0.5, g.num_nodes, dtype=np.float32))
    s.set_clamp([0, 5], [1, -1])
    obs = s.run(pbit.SamplingSchedule(10, 5, 3), beta=0.9, moments=True, energy=True)
    s.clear_clamp()
    s.sweep(7, beta=1.1)
    return s, (s.state.copy(), obs.edge_sum.copy(), obs.node_sum.copy(), obs.energy.copy())


@pytest.mark.parametrize("kernel", ["simple", "fast"])
@pytest.mark.parametrize("chains", [77, 4500])
def test_cuda_gives_the_references_chains(kernel, chains, monkeypatch):
    require_cuda()
    monkeypatch.setenv("PBIT_CUDA_KERNEL", kernel)
    s, got = run("cuda", chains)
    assert kernel + " kernel" in s.kernel_description, s.kernel_description
    _, want = run("reference", chains)
    for name, a, b in zip(("state", "edge_sum", "node_sum", "energy"), got, want):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}, {s.kernel_description}")


def importorskip(name):
    """The consumer library, or a skip; a failure where the device kit requires it (PBIT_REQUIRE_CONSUMERS=1:
    the GPU image has torch, CuPy and JAX, and a skip there would hide a broken install)."""
    if os.environ.get("PBIT_REQUIRE_CONSUMERS") == "1":
        return __import__(name)
    return pytest.importorskip(name)


def import_consumer(consumer):
    """(reads an exported state into the consumer's device array, copies such an array to numpy)."""
    if consumer == "torch":
        torch = importorskip("torch")

        def read(exported):
            t = torch.from_dlpack(exported)
            assert t.is_cuda and t.dtype == torch.int8
            return t

        return read, lambda t: t.cpu().numpy()
    if consumer == "cupy":
        cupy = importorskip("cupy")
        return cupy.from_dlpack, lambda a: a.get()
    if consumer == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # not 75% of the GPU at first use
        jax = importorskip("jax")

        def read(exported):
            a = jax.dlpack.from_dlpack(exported)
            assert all(d.platform == "gpu" for d in a.devices())
            return a

        return read, np.asarray
    raise AssertionError(consumer)


@pytest.mark.parametrize("consumer", ["torch", "cupy", "jax"])
def test_state_leaves_through_dlpack_as_cuda_memory(consumer):
    require_cuda()
    read, to_numpy = import_consumer(consumer)
    g = graph()
    s = pbit.Sampler(g, chains=4500, backend="cuda", seed=5)
    s.sweep(9, beta=0.8)
    exported = s.state_dlpack()
    assert exported.on_device and exported.__dlpack_device__()[0] == 2  # kDLCUDA
    assert exported.shape == (4500, g.num_nodes)
    expected = s.state
    on_gpu = read(exported)
    got = to_numpy(on_gpu)
    assert got.dtype == np.int8 and got.shape == (4500, g.num_nodes)
    np.testing.assert_array_equal(got, expected)
    # The consumer's array keeps its buffer alive after the sampler and the export are gone.
    kept = read(s.state_dlpack())
    del s, exported, on_gpu
    gc.collect()
    np.testing.assert_array_equal(to_numpy(kept), expected)
