"""pbit's value types pickle (multiprocessing sends them to workers and their results back), and an
IoError is also the OSError subclass Python gives its errno (FileNotFoundError, ...)."""
import errno
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import pbit


def roundtrip(x):
    return pickle.loads(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL))


def weighted_graph():
    # A zero coupling and an isolated node (5) must survive too: they are structure, not absence.
    return pbit.Graph.from_edges(6, [0, 1, 2, 0], [1, 2, 3, 3], [0.5, 0.0, -1.25, 2.0], [0.1, 0, -0.3, 0, 0, 0.7])


def test_a_graph_pickles_with_its_edges_couplings_and_biases():
    g = weighted_graph()
    back = roundtrip(g)
    assert back == g and back is not g
    assert (back.num_nodes, back.num_edges) == (6, 4)
    for a, b in zip(back.edges, g.edges):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.biases, g.biases)
    assert roundtrip(pbit.Graph.from_edges(0, [], [], [])) == pbit.Graph.from_edges(0, [], [], [])


def test_graph_equality_compares_values():
    g = weighted_graph()
    assert g == weighted_graph()
    other = weighted_graph()
    other.biases = np.zeros(6)
    assert g != other
    other = weighted_graph()
    w = other.edge_weights
    w[1] = 1e-30
    other.edge_weights = w
    assert g != other
    assert g != pbit.Graph.from_edges(7, [0, 1, 2, 0], [1, 2, 3, 3], [0.5, 0.0, -1.25, 2.0])
    assert (g == "a graph") is False
    with pytest.raises(TypeError):
        hash(g)  # mutable, compared by value: not hashable


def test_a_topology_pickles_whole():
    t = pbit.topology("pegasus:3")
    back = roundtrip(t)
    assert back.name == t.name and back.coloring_method == t.coloring_method
    assert back.coordinate_names == t.coordinate_names == ["u", "w", "k", "z"]
    assert back.graph == t.graph
    np.testing.assert_array_equal(back.colors, t.colors)
    assert back.coloring().num_colors == t.coloring().num_colors
    grid = pbit.topology("grid:8:G12")
    assert roundtrip(grid).graph == grid.graph
    # A linear index of another node count is refused (a state of another topology's, or hand-made).
    state = list(t.__getstate__())
    state[6] = state[6][:-1]
    with pytest.raises(pbit.InvalidArgument, match="linear_index is not one value per node"):
        pbit.Topology.__new__(pbit.Topology).__setstate__(tuple(state))


def test_a_coloring_and_roles_pickle():
    t = pbit.topology("pegasus:3")
    c = t.coloring()
    back = roundtrip(c)
    np.testing.assert_array_equal(back.colors, c.colors)
    assert back.num_colors == c.num_colors
    pbit.Sampler(t.graph, chains=2, coloring=back).sweep(1)  # checked against the graph it is used with
    with pytest.raises(pbit.InvalidColoring):
        pbit.Sampler(t.graph, chains=2, coloring=roundtrip(pbit.Coloring(pbit.Graph.from_edges(t.graph.num_nodes, [], [], []), [0] * t.graph.num_nodes)))
    r = pbit.place_roles(t.graph.num_nodes, "visible:20,label:4,hidden:rest", seed=3)
    rb = roundtrip(r)
    assert list(rb) == list(r) == ["visible", "label", "hidden"]
    for name in r:
        np.testing.assert_array_equal(rb[name], r[name])
    np.testing.assert_array_equal(rb.role_of, r.role_of)


def test_schedules_pickle_and_compare_by_value():
    s = pbit.SamplingSchedule(warmup=10, samples=5, steps_per_sample=3)
    assert roundtrip(s) == s == pbit.SamplingSchedule(10, 5, 3)
    assert s != pbit.SamplingSchedule(10, 5, 2)
    betas = [pbit.BetaSchedule.constant(0.7), pbit.BetaSchedule.linear(0.1, 1.0, 100), pbit.BetaSchedule.linear(0.1, 1.0, 100).after(37),
             pbit.BetaSchedule.piecewise([(0.0, 2), (0.5, 1), (1.0, 3)]), pbit.BetaSchedule.per_sweep(np.linspace(0, 2, 9))]
    for b in betas:
        back = roundtrip(b)
        assert back == b and repr(back) == repr(b)
        np.testing.assert_array_equal(back.expand(120), b.expand(120))
    assert betas[1] != betas[2] and betas[1] != pbit.BetaSchedule.linear(0.1, 1.0, 99)
    assert pbit.BetaSchedule.linear(0.0, 4.0, 2**40).after(2**38).expand(1)[0] == 1.0  # pieces, not values: a long anneal pickles small
    assert len(pickle.dumps(pbit.BetaSchedule.linear(0.0, 4.0, 2**40))) < 400
    # A BetaSchedule cannot change: it hashes as it compares (a dict key); a SamplingSchedule can.
    assert hash(betas[1]) == hash(pbit.BetaSchedule.linear(0.1, 1.0, 100)) == hash(roundtrip(betas[1]))
    assert len({b: i for i, b in enumerate(betas + [roundtrip(b) for b in betas])}) == len(betas)
    assert hash(betas[1].after(37)) == hash(betas[2])
    with pytest.raises(TypeError):
        hash(s)  # its fields can be set


def test_a_beta_past_float32_is_refused_in_every_constructor():
    with pytest.raises(pbit.InvalidArgument, match=r"segments\[1\]\.beta: value 1e\+39 is beyond float32's range"):
        pbit.BetaSchedule.piecewise([(0.5, 2), (1e39, 5)])


def test_observations_and_colorings_say_what_they_hold():
    # (helper-94: both printed as "<pbit._pbit.Observations object at 0x...>")
    g = pbit.square_lattice(3)
    o = pbit.Sampler(g, chains=4, seed=1).run(pbit.SamplingSchedule(2, 3, 1), moments=True, energy=True)
    assert repr(o) == "pbit.Observations(4 chains, 3 samples, 5 sweeps: node_mean, edge_corr, node_sum, edge_sum, energy)"
    bare = pbit.Sampler(g, chains=2, seed=1).run(pbit.SamplingSchedule(0, 1, 1))
    assert repr(bare) == "pbit.Observations(2 chains, 1 sample, 1 sweep: nothing observed)"
    assert repr(pbit.color_graph(g)) == f"pbit.Coloring(9 nodes, {pbit.color_graph(g).num_colors} colors)"
    # One of a thing is no "1 chains" (helper-110).
    one = pbit.Graph.from_edges(1, [], [], [])
    assert repr(one) == "pbit.Graph(1 node, 0 edges)" and repr(pbit.color_graph(one)) == "pbit.Coloring(1 node, 1 color)"
    assert repr(pbit.Sampler(one, chains=1)).startswith("pbit.Sampler(1 chain of 1 node, ")
    assert repr(pbit.TemperedSampler(one, 1, [1.0, 0.5])).startswith("pbit.TemperedSampler(1 chain of 1 node, 2 replicas, ")


def test_a_beta_schedule_says_how_it_was_built():
    assert repr(pbit.BetaSchedule.linear(0.1, 1.0, 100)) == "pbit.BetaSchedule.linear(0.1, 1.0, 100)"
    assert repr(pbit.BetaSchedule.constant(2)) == "pbit.BetaSchedule.constant(2.0)"
    assert repr(pbit.BetaSchedule.piecewise([(0.5, 10), (1.0, 5)]).after(3)) == "pbit.BetaSchedule.piecewise([(0.5, 10), (1.0, 5)]).after(3)"
    assert repr(pbit.BetaSchedule.per_sweep(range(10))).endswith(", ...] (10 values))")
    assert pbit.BetaSchedule.piecewise([(0.5, 10), (1.0, 5)]).length == 15
    with pytest.raises(pbit.InvalidArgument, match="sweeps must be in"):
        pbit.BetaSchedule.constant(1).after(-1)


def test_observations_pickle():
    s = pbit.Sampler(pbit.square_lattice(3), chains=4, seed=5)
    obs = s.run(pbit.SamplingSchedule(warmup=2, samples=3), beta=0.5, moments=True, energy=True, snapshot_sweeps=[3])
    back = roundtrip(obs)
    assert (back.num_chains, back.num_samples, back.sweeps) == (obs.num_chains, obs.num_samples, obs.sweeps)
    for name in ("node_sum", "edge_sum", "node_mean", "edge_corr", "energy", "snapshots"):
        np.testing.assert_array_equal(getattr(back, name), getattr(obs, name))
    assert back.readout_mean is None and obs.readout_mean is None
    # One edited in place into what no run gives is refused when pickled, saying so; its pickle was
    # written and then did not load.
    obs.node_mean[0] = 2.0
    with pytest.raises(pbit.InvalidArgument, match=r"pickling pbit.Observations: node_mean holds 2.0+, not a mean in \[-1, 1\]"):
        pickle.dumps(obs)


def test_a_bad_pickle_state_is_refused_with_what_is_wrong():
    g = weighted_graph()
    fn, args, *rest = g.__reduce_ex__(2)
    with pytest.raises(pbit.InvalidArgument, match="unpickling pbit.Graph: expected a state of 5 items"):
        pbit.Graph.__new__(pbit.Graph).__setstate__((1, 2))
    with pytest.raises(pbit.InvalidArgument, match="unpickling pbit.Graph: expected a state of 5 items"):
        pbit.Graph.__new__(pbit.Graph).__setstate__((3, [0], [1], [1.0], [0, 0, 0], "one item more"))
    with pytest.raises(pbit.InvalidGraph, match="self loop"):
        pbit.Graph.__new__(pbit.Graph).__setstate__((3, [1], [1], [1.0], [0, 0, 0]))
    with pytest.raises(pbit.InvalidArgument, match="steps_per_sample"):
        pbit.SamplingSchedule.__new__(pbit.SamplingSchedule).__setstate__((0, 1, 0))
    with pytest.raises(pbit.InvalidArgument, match="piece 1"):
        pbit.BetaSchedule.__new__(pbit.BetaSchedule).__setstate__((np.zeros(0, np.float32), [(0, 2, 1.0, 1.0), (5, 1, 1.0, 1.0)], 0))
    with pytest.raises(pbit.InvalidArgument, match="unpickling pbit.Roles"):
        pbit.Roles.__new__(pbit.Roles).__setstate__(("{}",))
    with pytest.raises(pbit.InvalidColoring):
        pbit.Topology.__new__(pbit.Topology).__setstate__(("t", (2, [0], [1], [1.0], [0, 0]), [0, 0], "x", [], np.zeros((0, 0), np.int32), []))
    # A number past int64 names the field (it was a RuntimeError from pybind11's cast).
    with pytest.raises(pbit.InvalidArgument, match="BetaSchedule offset must be in"):
        pbit.BetaSchedule.__new__(pbit.BetaSchedule).__setstate__((np.zeros(0, np.float32), [(0, 10, 0.1, 1.0)], 2**63))
    with pytest.raises(pbit.InvalidArgument, match="expected a list of pieces"):
        pbit.BetaSchedule.__new__(pbit.BetaSchedule).__setstate__((np.zeros(0, np.float32), 5, 0))
    # Roles: what a roles file holds, and nothing of another format or version; a key given twice is refused.
    good = pbit.place_roles(4, "a:1,b:rest", 1)
    text = good.__getstate__()[0]
    for bad, why in [(text.replace('"version":1', '"version":99'), "version 99"),
                     (text.replace('"format":"pbit.roles"', '"format":"other"'), 'format "other"'),
                     (text[:-1] + ',"extra":5}', "unknown key 'extra'"),
                     (text[:-1] + ',"num_nodes":4}', "the key 'num_nodes' appears twice")]:
        assert bad != text
        with pytest.raises(pbit.InvalidArgument if "twice" not in why else pbit.InvalidConfig, match=why):
            pbit.Roles.__new__(pbit.Roles).__setstate__((bad,))
    # Observations as a run writes them: counts in range, shapes from the counts, means in [-1, 1], spins +-1.
    s = pbit.Sampler(pbit.square_lattice(3), chains=2, seed=5)
    state = list(s.run(pbit.SamplingSchedule(warmup=2, samples=3), moments=True, energy=True, snapshot_sweeps=[3]).__getstate__())
    for k, value, why in [(0, -2, "num_chains must be in"), (0, 2**40, "num_chains must be in"),
                          (5, np.full(9, np.nan), "node_mean holds nan"), (5, np.full(9, 2.0), "not a mean in"),
                          (7, np.zeros((5, 7)), "energy: not of the shape"), (7, np.zeros((3, 7)), "energy: not of the shape"),
                          (10, np.ones((1, 3, 9), np.int8), "snapshots: not of the shape"),
                          (10, np.full((1, 2, 9), 7, np.int8), "not \\+1 or -1"), (10, np.zeros((1, 2, 9), np.int8), "not \\+1 or -1"),
                          (10, np.ones((1, 2, 9)), "snapshots must be int8"), (3, [1, 2], "node_sum must be a numpy array")]:
        bad = list(state)
        bad[k] = value
        with pytest.raises(pbit.InvalidArgument, match=why):
            pbit.Observations.__new__(pbit.Observations).__setstate__(tuple(bad))
    pbit.Observations.__new__(pbit.Observations).__setstate__(tuple(state))  # as it was: read


def _sample(args):
    graph, schedule, beta = args  # all three arrive pickled
    s = pbit.Sampler(graph, chains=8, seed=11)
    return s.run(schedule, beta=beta, moments=True)


def test_a_worker_pool_gets_graphs_and_schedules_and_returns_observations():
    g = pbit.with_random_weights(pbit.random_regular(20, 3, seed=1), 2, 0.5, 0.1)
    jobs = [(g, pbit.SamplingSchedule(warmup=5, samples=4), pbit.BetaSchedule.linear(0.1, b, 5)) for b in (0.5, 1.0)]
    want = [_sample(j) for j in jobs]
    with multiprocessing.get_context("spawn").Pool(2) as pool:  # spawn: everything goes through pickle
        got = pool.map_async(_sample, jobs).get(timeout=120)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.node_sum, b.node_sum)
        np.testing.assert_array_equal(a.edge_sum, b.edge_sum)


def test_an_io_error_is_also_the_oserror_subclass_of_its_errno(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        pbit.Graph.read(str(tmp_path / "missing.json"))
    assert isinstance(e.value, pbit.IoError) and isinstance(e.value, pbit.Error)
    assert type(e.value) is pbit.IoError.FileNotFoundError and e.value.errno == errno.ENOENT
    assert str(e.value).startswith("I/O error: cannot open")  # pbit's message, not OSError's "[Errno 2] ..."
    with pytest.raises(IsADirectoryError):
        pbit.Graph.read(str(tmp_path))
    with pytest.raises(IsADirectoryError):
        weighted_graph().write(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        pbit.cli("info", "--graph", str(tmp_path / "missing.json"))
    back = roundtrip(e.value)
    assert type(back) is pbit.IoError.FileNotFoundError and (back.errno, back.filename) == (e.value.errno, e.value.filename)
    assert issubclass(pbit.IoError.PermissionError, PermissionError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_permission_error(tmp_path):
    p = tmp_path / "g.json"
    weighted_graph().write(str(p))
    p.chmod(0)
    with pytest.raises(PermissionError) as e:
        pbit.Graph.read(str(p))
    assert isinstance(e.value, pbit.IoError) and e.value.errno == errno.EACCES


def test_a_sampler_does_not_pickle():
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(pbit.Sampler(pbit.square_lattice(3), chains=2))


# Every protocol, and obj.__reduce__() (copy.copy and old code call it): protocols 0 and 1 went
# through copyreg._reduce_ex, which aborted the interpreter on every pbit class (helper-110). In a
# child process, so that such an abort fails this test rather than ending the suite.
EVERY_PROTOCOL = """
import copy, pickle, sys
import pbit
g = pbit.square_lattice(3)
values = [g, pbit.topology("chimera:1"), pbit.color_graph(g), pbit.SamplingSchedule(1, 2, 3),
          pbit.BetaSchedule.linear(0.1, 1, 5), pbit.place_roles(9, "a:4,b:rest", seed=3),
          pbit.Sampler(g, 2).run(pbit.SamplingSchedule(0, 2, 1), moments=True, energy=True)]
for v in values:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert repr(pickle.loads(pickle.dumps(v, protocol=protocol))) == repr(v), (v, protocol)
    f, args, state = v.__reduce__()[:3]
    back = f(*args)
    back.__setstate__(state)
    assert repr(back) == repr(copy.copy(v)) == repr(v), v
s = pbit.Sampler(g, 2)
for v in (s, pbit.TemperedSampler(g, 2, [1.0, 0.5]), s.state_dlpack()):
    for attempt in [lambda p=p: pickle.dumps(v, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)] + [
            lambda: copy.copy(v), lambda: copy.deepcopy(v), v.__reduce__, lambda: v.__reduce_ex__(1)]:
        try:
            attempt()
        except TypeError as e:
            assert "pickle" in str(e), e
        else:
            sys.exit(f"{type(v).__name__} pickled")
print("ok")
"""


def test_every_protocol_pickles_or_refuses_without_aborting():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", EVERY_PROTOCOL], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "ok\n", (r.returncode, r.stdout, r.stderr[-2000:])


def test_after_finishes_an_annealed_run_bit_for_bit():
    g = pbit.with_random_weights(pbit.square_lattice(4), 3, 0.7)
    anneal = pbit.BetaSchedule.linear(0.1, 2.0, 10)
    whole, split = pbit.Sampler(g, chains=4, seed=2), pbit.Sampler(g, chains=4, seed=2)
    whole.sweep(10, beta=anneal)
    split.sweep(4, beta=anneal)
    split.sweep(6, beta=anneal.after(4))
    np.testing.assert_array_equal(split.state, whole.state)
    other = pbit.Sampler(g, chains=4, seed=2)
    other.sweep(4, beta=anneal)
    other.sweep(6, beta=anneal)  # the schedule from its start: another run
    assert not np.array_equal(other.state, whole.state)
