"""Bad input raises pbit's exceptions, with the C++ message; nothing crashes."""
import numpy as np
import pytest

import pbit


def g():
    return pbit.square_lattice(3)


def test_a_self_loop_is_an_invalid_graph():
    with pytest.raises(pbit.InvalidGraph, match="self loop") as e:
        pbit.Graph.from_edges(3, [0], [0], [1.0])
    assert isinstance(e.value, ValueError) and isinstance(e.value, pbit.Error)


def test_edge_arrays_of_different_lengths_are_refused():
    with pytest.raises(pbit.InvalidArgument, match="same length"):
        pbit.Graph.from_edges(3, [0, 1], [1], [1.0])


def test_an_unknown_backend_is_refused():
    with pytest.raises(pbit.InvalidArgument, match="backend"):
        pbit.Sampler(g(), chains=2, backend="tpu")


def test_a_state_of_the_wrong_shape_or_values_is_refused():
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="expected"):
        s.state = np.ones((3, 9))
    with pytest.raises(pbit.InvalidArgument, match="spins are -1 or \\+1"):
        s.state = np.zeros((2, 9))


def test_a_clamp_on_a_missing_node_is_refused():
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="out of range|node"):
        s.set_clamp([42], [1])


def test_a_non_finite_field_is_refused():
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="finite"):
        s.set_field([0], [np.nan])


def test_a_missing_file_is_an_io_error():
    with pytest.raises(pbit.IoError) as e:
        pbit.Graph.read("/nonexistent/graph.json")
    assert isinstance(e.value, OSError)


def test_bad_schedules_and_observers_are_refused():
    with pytest.raises(pbit.InvalidArgument):
        pbit.SamplingSchedule(warmup=-1)
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="snapshot"):
        s.run(pbit.SamplingSchedule(1, 1, 1), snapshot_sweeps=[5])
    with pytest.raises(pbit.InvalidArgument, match="chains"):
        pbit.Sampler(g(), chains=0)


def test_cuda_without_a_gpu_says_why():
    if "cuda" in pbit.backends():
        pytest.skip("a GPU is usable here")
    with pytest.raises(pbit.Error) as e:
        pbit.Sampler(g(), chains=2, backend="cuda")
    assert isinstance(e.value, (pbit.CudaError, pbit.NotCompiled))
    assert pbit.backend_unavailable_reason("cuda") != ""


def test_energy_checks_the_state_size():
    g = pbit.square_lattice(3)
    with pytest.raises(pbit.InvalidArgument, match="expected N = 9"):
        g.energy(np.ones(0))
    with pytest.raises(pbit.InvalidArgument, match="expected N = 9"):
        g.energy(np.ones(18))  # two states given flat: refused, not scored as one
    assert g.energy(np.ones((2, 9))).shape == (2,)
