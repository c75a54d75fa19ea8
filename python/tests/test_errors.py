"""Bad input raises pbit's exceptions, with the C++ message; nothing crashes."""
import errno
import os

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
    # The value, then its place (it read "value 0 is 0.000000": which was the index?).
    with pytest.raises(pbit.InvalidArgument, match=r"values: value 0\.5 \(index 1\) is not a spin; spins are -1 or \+1"):
        s.set_clamp([0, 1], [1, 0.5])
    # ... with all its digits: 1 + 1e-9 read "value 1 is not a spin" (helper-94).
    with pytest.raises(pbit.InvalidArgument, match=r"value 1\.000000001\d* \(index 0\) is not a spin"):
        s.state = np.full((2, 9), 1 + 1e-9)
    # A field's place is named as an entry, not a "value" (set_field read "value 0 (chain 0, node 0) is nan").
    with pytest.raises(pbit.InvalidArgument, match=r"set_field: entry 0 \(chain 0, node 0\) is nan"):
        s.set_field(None, np.full(9, np.nan))


def test_a_clamp_on_a_missing_node_is_refused():
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match=r"set_clamp: node index 42 out of range \[0, 9\)"):
        s.set_clamp([42], [1])


def test_a_non_finite_field_is_refused():
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="finite"):
        s.set_field([0], [np.nan])


def test_a_missing_file_is_an_io_error():
    with pytest.raises(pbit.IoError) as e:
        pbit.Graph.read("/nonexistent/graph.json")
    assert isinstance(e.value, OSError)
    # As an OSError: the errno and the file, while str() stays pbit's message.
    assert e.value.errno == errno.ENOENT
    assert e.value.strerror == os.strerror(errno.ENOENT)
    assert e.value.filename == "/nonexistent/graph.json"
    assert str(e.value).startswith("I/O error: cannot open '/nonexistent/graph.json'")


def test_an_io_error_names_the_file_of_a_read_or_a_write(tmp_path):
    with pytest.raises(pbit.IoError) as e:
        pbit.Graph.read(str(tmp_path))  # a folder: refused before any open
    assert e.value.errno == errno.EISDIR and e.value.filename == str(tmp_path)
    with pytest.raises(pbit.IoError) as e:
        pbit.Graph.from_edges(2, [0], [1], [1.0]).write(str(tmp_path / "missing" / "g.json"))
    assert e.value.errno == errno.ENOENT and e.value.filename == str(tmp_path / "missing" / "g.json")


def test_bad_schedules_and_observers_are_refused():
    with pytest.raises(pbit.InvalidArgument, match=r"warmup must be in \[0, 4294967296\], got -1"):
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


def test_out_of_range_nodes_raise_instead_of_reading_past_the_graph():
    lat = g()
    assert lat.degree(0) == 4
    for bad in (-1, 9, 10**9):
        with pytest.raises(pbit.InvalidArgument, match=r"degree: node must be in \[0, 8\]"):
            lat.degree(bad)
    with pytest.raises(pbit.InvalidArgument, match="degree: the graph has no nodes"):
        pbit.Graph.from_edges(0, [], [], []).degree(0)  # node 0 of no nodes is not read
    roles = pbit.place_roles(36, "a:10,b:rest")  # placed for another graph's 36 nodes
    with pytest.raises(pbit.InvalidArgument, match="36 nodes, the graph has 9"):
        pbit.role_distances(lat, roles)


def test_arrays_of_the_wrong_shape_or_index_type_are_refused():
    s = pbit.Sampler(pbit.square_lattice(4), chains=4)
    with pytest.raises(pbit.InvalidArgument, match=r"expected shape \(4, 16\), got \(16, 4\)"):
        s.state = np.ones((16, 4))  # transposed: not read in the wrong order
    with pytest.raises(pbit.InvalidArgument, match="expected shape"):
        s.state = np.ones(64)  # flattened
    # Too few rows, or one row for every chain, is named by its shape, as the transposed one is.
    with pytest.raises(pbit.InvalidArgument, match=r"expected shape \(4, 16\), got \(2, 16\)"):
        s.state = np.ones((2, 16))
    with pytest.raises(pbit.InvalidArgument, match=r"expected shape \(4, 16\), got \(16,\)"):
        s.state = np.ones(16)
    # An array of more dimensions than the argument has is refused, not flattened into it.
    with pytest.raises(pbit.InvalidArgument, match=r"weights: expected at most 1 dimension, got 2"):
        pbit.Graph.from_edges(3, [0, 1], [1, 2], [[1.0, 2.0]])
    with pytest.raises(pbit.InvalidArgument, match=r"values: expected at most 2 dimensions, got 3"):
        s.set_field(None, np.zeros((4, 16, 1)))
    with pytest.raises(pbit.InvalidArgument, match=r"expected shape \(4, 2\) or \(2,\)"):
        s.set_clamp([0, 1], np.ones((2, 4)))
    with pytest.raises(pbit.InvalidArgument, match="expected integers"):
        s.set_clamp([0.7], [1])  # a float is not node 0
    with pytest.raises(pbit.InvalidArgument, match="out of range"):
        s.set_field([2**33], [0.5])  # does not wrap to node 0
    with pytest.raises(pbit.InvalidArgument, match="1-D"):
        s.run(pbit.SamplingSchedule(0, 1, 1), readout_groups=[0, 1])  # two groups of one node are [[0], [1]]
    with pytest.raises(pbit.InvalidArgument, match="rows of 2"):
        pbit.square_lattice(4).energy(np.ones((16, 2)))
    with pytest.raises(pbit.InvalidArgument, match=r"samples must be in \[0, 4294967296\]"):  # a config's range
        s.run(pbit.SamplingSchedule(0, 2**62, 4))
    with pytest.raises(pbit.InvalidArgument, match=r"\(0 \+ 4294967296 x 4294967296\) is more than one sampler runs"):  # not wrapped
        pbit.SamplingSchedule(0, 2**32, 2**32)


def test_a_sampler_takes_one_call_at_a_time():
    s = pbit.Sampler(pbit.square_lattice(4), chains=4, seed=1)
    calls = []

    def reenter(done, total):
        calls.append(done)
        s.sweep(1)  # from its own progress callback: refused, not a second run inside the first

    with pytest.raises(pbit.InvalidArgument, match="busy"):
        s.sweep(50, progress=reenter)
    assert calls and s.sweep_count <= 50
    s.sweep(1)  # free again once the call has returned


def test_the_samplers_graph_is_a_copy_and_set_weights_changes_the_sampler():
    lat = pbit.square_lattice(4)
    s = pbit.Sampler(lat, chains=64, seed=3)
    copy = s.graph
    copy.edge_weights = -3 * np.ones(lat.num_edges, dtype=np.float32)
    assert np.all(s.graph.edge_weights == 1)  # the sampler's graph is unchanged
    s.set_weights(-np.ones(lat.num_edges, dtype=np.float32), np.zeros(lat.num_nodes, dtype=np.float32))
    assert np.all(s.graph.edge_weights == -1)
    s.sweep(200, beta=2.0)
    assert np.mean(s.chain_energies()) < -0.8 * lat.num_edges  # antiferromagnetic ground states, sampled as such


def test_roles_are_a_mapping_and_threads_are_range_checked():
    roles = pbit.place_roles(9, "a:3,b:rest")
    assert list(roles) == ["a", "b"] and "a" in roles
    with pytest.raises(KeyError):
        roles["c"]
    # as a dict of str keys: any other key is not in it (pybind11's overload TypeError before: helper-110)
    assert 3 not in roles and None not in roles and b"a" not in roles
    for key in (0, None, b"a", ("a",)):
        with pytest.raises(KeyError):
            roles[key]
    with pytest.raises(pbit.InvalidArgument, match="threads"):
        pbit.Sampler(g(), chains=2, threads=-3)


def test_a_set_dict_or_generator_is_named_as_such():
    # numpy makes one object of each, which read as "an integer past 2^63 - 1?" (helper-110)
    s = pbit.Sampler(g(), chains=2)
    for bad, name in (({0, 1}, "set"), ({0: 1}, "dict"), ((i for i in range(2)), "generator"), (iter([0, 1]), "list_iterator")):
        with pytest.raises(pbit.InvalidArgument, match=f"nodes: expected an array of numbers, got a {name} \\(give a list"):
            s.set_clamp(bad, [1, 1])
        with pytest.raises(pbit.InvalidArgument, match=f"got a {name} "):
            s.set_field([0, 1], bad)


def test_integers_out_of_range_name_the_argument():
    # pybind's own conversion raised a TypeError listing the overloads, naming neither the argument
    # nor its range.
    for make in (lambda **k: pbit.Sampler(g(), **k), lambda **k: pbit.TemperedSampler(g(), betas=[1.0, 0.5], **k)):
        with pytest.raises(pbit.InvalidArgument, match=r"chains must be in \[1, 1073741824\], got 1099511627776"):
            make(chains=2**40)
        with pytest.raises(pbit.InvalidArgument, match=r"seed must be in \[0, 2\^64\), got -1"):
            make(chains=2, seed=-1)
        with pytest.raises(pbit.InvalidArgument, match=r"seed must be in \[0, 2\^64\)"):
            make(chains=2, seed=2**64)
        with pytest.raises(pbit.InvalidArgument, match="chains must be an integer"):
            make(chains=2.5)
        make(chains=np.int64(3), seed=np.uint64(2**63))  # numpy integers are integers
    with pytest.raises(pbit.InvalidArgument, match="num_nodes must be in"):
        pbit.place_roles(-1, "a:rest")
    with pytest.raises(pbit.InvalidArgument, match="seed must be in"):
        pbit.with_random_weights(g(), -3, 0.5)
    with pytest.raises(pbit.InvalidArgument, match="n must be in"):
        pbit.random_regular(2**33, 3, 1)
    # The same seed as a Python int and as a numpy integer gives the same chains.
    a, b = pbit.Sampler(g(), chains=4, seed=7), pbit.Sampler(g(), chains=4, seed=np.uint32(7))
    a.sweep(5)
    b.sweep(5)
    np.testing.assert_array_equal(a.state, b.state)


def test_second_python_review(tmp_path, monkeypatch):
    # Paths: a NUL byte cut the path short (x\0.json wrote JSON into "x"); pathlib paths are taken.
    path = tmp_path / "x\0.json"
    with pytest.raises(pbit.InvalidArgument, match="embedded null byte"):
        g().write(str(path))
    assert not (tmp_path / "x").exists()
    with pytest.raises(pbit.InvalidArgument, match="embedded null byte"):
        pbit.Graph.read(str(tmp_path / "a.txt\0junk.txt"))
    with pytest.raises(pbit.InvalidArgument, match="embedded null byte"):
        pbit.cli("info", "--graph", str(tmp_path / "g.txt\0zzz"))
    g().write(tmp_path / "g.json")
    assert pbit.Graph.read(tmp_path / "g.json").num_edges == g().num_edges
    roles = pbit.place_roles(9, "a:3,b:rest")
    roles.write(tmp_path / "roles.json")
    assert len(pbit.Roles.read(tmp_path / "roles.json", 9)) == 2
    with pytest.raises(pbit.InvalidArgument, match="os.PathLike"):
        g().write(3)
    # A node that does not exist has no coupling (it read 0.0, while degree() raised).
    with pytest.raises(pbit.InvalidArgument, match=r"node j must be in \[0, 8\], got 100"):
        g().coupling(0, 100)
    with pytest.raises(pbit.InvalidArgument, match="node i must be in"):
        g().coupling(2**63, 0)
    # Schedule fields are checked when assigned, and a refused value leaves the schedule as it was.
    sc = pbit.SamplingSchedule(2, 3, 1)
    with pytest.raises(pbit.InvalidArgument, match=r"warmup must be in \[0, "):
        sc.warmup = -5
    with pytest.raises(pbit.InvalidArgument, match=r"samples must be in \[0, 4294967296\]"):
        sc.samples = 2**62
    sc.samples = 2**23
    with pytest.raises(pbit.InvalidArgument, match=r"steps_per_sample must be in \[1, 4294967296\]"):
        sc.steps_per_sample = 2**40
    assert (sc.warmup, sc.samples, sc.steps_per_sample) == (2, 2**23, 1)
    # A run past a sampler's sweep counter is refused when the schedule is made, as a config's is.
    with pytest.raises(pbit.InvalidArgument, match=r"more than one sampler runs \(2\^32 - 1 sweeps"):
        pbit.SamplingSchedule(1, 2**32 - 1, 1)
    with pytest.raises(pbit.InvalidArgument, match=r"\(2 \+ 8388608 x 512\) is more than one sampler runs"):
        sc.steps_per_sample = 512
    assert pbit.SamplingSchedule(1, 2**31 - 1, 2).total_sweeps == 2**32 - 1
    # Snapshot sweeps are integers: 1.9 was silently sweep 1.
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match="snapshot_sweeps: expected integers"):
        s.run(pbit.SamplingSchedule(0, 2, 1), snapshot_sweeps=[1.9])
    # Sizes are checked before they are allocated; a spread is not negative.
    monkeypatch.setenv("PBIT_MAX_MEMORY", "1M")
    with pytest.raises(pbit.OutOfMemory, match="placing roles on 100000000 nodes"):
        pbit.place_roles(10**8, "a:10,b:rest")
    monkeypatch.delenv("PBIT_MAX_MEMORY")
    with pytest.raises(pbit.InvalidArgument, match=r"replicas must be in \[2, 65536\]"):
        pbit.TemperedSampler.geometric(1.0, 0.1, 2**31 - 1)
    with pytest.raises(pbit.InvalidArgument, match="must be finite and >= 0"):
        pbit.with_random_weights(g(), 1, -0.5)
    # DLPack: another device, or a copy, is a BufferError (the array API's contract), not a CPU capsule.
    st = s.state_dlpack()
    with pytest.raises(BufferError, match="cannot be exported"):
        st.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match=r"lives on device \(1, 0\); it cannot be exported to \(1, 1\)"):
        st.__dlpack__(dl_device=(1, 1))  # the CPU, but a device id it does not have
    with pytest.raises(BufferError, match="copy=True"):
        st.__dlpack__(copy=True)
    assert np.from_dlpack(st).shape == (2, 9)


def test_a_config_dict_that_cannot_be_written_leaves_no_temporary_file(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(pbit.InvalidConfig, match="argument 4 .a config dict. cannot be written as JSON: set values are not JSON"):
        pbit.cli("dbm", "train", "--config", {"x": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def test_a_graph_assigned_in_another_thread_is_written_whole(tmp_path):
    # Graph.write releases the GIL; another thread's g.biases = ... used to land in the middle of the
    # write (files mixing several assignments, or a read of freed memory). The write now works on a
    # copy taken while it held the GIL, so each file holds one assignment's biases.
    import threading
    n = 200_000
    graph = pbit.random_regular(n, 3, seed=1)
    stop = threading.Event()

    def assign():
        k = 0
        while not stop.is_set():
            graph.biases = np.full(n, k % 5 + 1, np.float32)
            k += 1

    t = threading.Thread(target=assign)
    t.start()
    try:
        for w in range(4):
            graph.write(tmp_path / f"g{w}.txt")
    finally:
        stop.set()
        t.join()
    for w in range(4):
        values = {line.split()[2] for line in open(tmp_path / f"g{w}.txt") if line.startswith("bias ")}
        assert len(values) <= 1, f"file {w} mixes the biases {sorted(values)}"


def test_integer_and_beta_arguments_name_themselves():
    # Raw C++ integer parameters gave TypeError overload dumps, and beta=10**400 a bare RuntimeError.
    s = pbit.Sampler(g(), chains=2)
    with pytest.raises(pbit.InvalidArgument, match=r"sweeps must be in \[0, 4294967295\], got 9223372036854775808"):
        s.sweep(2**63)
    with pytest.raises(pbit.InvalidArgument, match="sweep_count must be in"):
        s.sweep_count = -1
    with pytest.raises(pbit.InvalidArgument, match="beta must be a finite number"):
        s.sweep(2, beta=10**400)
    with pytest.raises(pbit.InvalidArgument, match="beta must be a finite number"):
        s.sweep(2, beta=float("nan"))
    with pytest.raises(pbit.InvalidArgument, match="warmup must be in"):
        pbit.SamplingSchedule(2**63)
    with pytest.raises(pbit.InvalidArgument, match="steps_per_sample must be an integer"):
        pbit.SamplingSchedule(0, 1, 1.5)
    with pytest.raises(pbit.InvalidArgument, match="sweeps must be in"):
        pbit.BetaSchedule.constant(1.0).expand(-1)
    t = pbit.TemperedSampler(g(), 2, [1.0, 0.5])
    with pytest.raises(pbit.InvalidArgument, match="sweeps must be in"):
        t.sweep(2**40)
    with pytest.raises(pbit.InvalidArgument, match="sweeps_per_round must be in"):
        pbit.TemperedSampler(g(), 2, [1.0, 0.5], sweeps_per_round=2**63)
    # A beta that rounds to 0 in float32 ran at beta 0 as a number, and was refused as an array.
    for tiny in (1e-300, np.float64(1e-300)):
        with pytest.raises(pbit.InvalidArgument, match="beta: value 1e-300 is too close to 0 for a float32"):
            s.sweep(2, beta=tiny)
    assert s.sweep_count == 0
    s.sweep(np.int64(3), beta=2)  # numpy integers and int betas are taken
    assert s.sweep_count == 3
    assert pbit.SamplingSchedule(np.int32(1), 2, 3).total_sweeps == 7


def test_third_python_review(tmp_path):
    # A schedule changed by the progress callback mid-run: the run keeps the schedule it was given
    # (its buffers are sized from it; the loop used to write past them and corrupt the heap).
    s = pbit.Sampler(pbit.square_lattice(4), 8, seed=1)
    sched = pbit.SamplingSchedule(50, 10, 5)

    def grow(done, total):
        sched.samples, sched.warmup = 50, 2

    o = s.run(sched, energy=True, progress=grow)
    assert o.num_samples == 10 and o.energy.shape == (10, 8) and sched.samples == 50
    t = pbit.TemperedSampler(pbit.square_lattice(4), 2, [1.0, 0.5])
    ts = pbit.SamplingSchedule(20, 6, 2)
    o = t.run(ts, energy=True, progress=lambda d, n: setattr(ts, "samples", 99))
    assert o.num_samples == 6 and o.energy.shape == (6, 2) and ts.samples == 99
    # What a run changes is read only between calls (another thread could read it mid-change).
    with pytest.raises(pbit.InvalidArgument, match="busy"):
        s.run(pbit.SamplingSchedule(50, 1, 1), progress=lambda d, n: s.graph)
    with pytest.raises(pbit.InvalidArgument, match="busy"):
        t.sweep(40, progress=lambda d, n: t.betas)
    # A coloring must cover the nodes (it was read past its end).
    with pytest.raises(pbit.InvalidArgument, match="colors has 1 entries for 1000 nodes"):
        pbit.place_roles(1000, "a:3:0,b:rest", colors=[1], in_order=True)
    with pytest.raises(pbit.InvalidArgument, match=r"colors\[0\] is -1"):
        pbit.place_roles(4, "a:rest", colors=[-1, 0, 0, 0])
    # Numbers only: a string, None or an object is not silently converted.
    with pytest.raises(pbit.InvalidArgument, match="weights: expected numbers, got <U2 values"):
        pbit.Graph.from_edges(2, [0], [1], "12")
    with pytest.raises(pbit.InvalidArgument, match="got None"):
        s.set_field([0], None)
    with pytest.raises(pbit.InvalidArgument, match="expected numbers, got object values"):
        s.set_chain_betas(np.array([object()] * 8))
    with pytest.raises(pbit.InvalidArgument, match="value 9223372036854775809 is out of range"):
        s.set_clamp(np.array([2**63 + 1], dtype=np.uint64), [1])
    with pytest.raises(pbit.InvalidArgument, match="snapshot_sweeps: value 18446744073709551615 is out of range"):
        s.run(pbit.SamplingSchedule(1, 1, 1), snapshot_sweeps=np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(pbit.InvalidArgument, match="readout_groups: expected a list of node lists, got int"):
        s.run(pbit.SamplingSchedule(1, 1, 1), readout_groups=5)
    # A geometric ladder is one the sampler takes, or refused saying why.
    with pytest.raises(pbit.InvalidArgument, match="closer than a float"):
        pbit.TemperedSampler.geometric(1, 0.9999, 2000)
    # A roles file's node ids are range-checked, not wrapped onto existing nodes.
    (tmp_path / "r.json").write_text('{"roles": [{"name": "a", "nodes": [4294967298]}, {"name": "b", "nodes": [0, 1, 3]}]}')
    with pytest.raises(pbit.InvalidArgument, match="node 4294967298 out of range"):
        pbit.Roles.read(str(tmp_path / "r.json"), 4)
    # A topology spec's seed is >= 0, as random_regular's is.
    with pytest.raises(pbit.InvalidArgument, match="seed must be >= 0"):
        pbit.topology("regular:10:3:-5")


def _state_after_sweeps(seed):
    # Work enough for two threads: 5 sweeps of 256 chains on 1,024 nodes and about 2,000 edges (3.9M node
    # and edge visits, src/util/parallel_for.hpp starts a second thread at 2^17). A smaller run (a 6x6
    # lattice with 32 chains) runs on one thread and would start none in the parent (helper-107).
    s = pbit.Sampler(pbit.square_lattice(32), 256, seed=seed, threads=2)
    s.sweep(5)
    return s.state.tobytes()


def test_a_forked_worker_samples_instead_of_hanging():
    # multiprocessing's default start method on Linux is fork; libgomp's threads do not survive it,
    # and a worker that swept with 2 threads waited for them forever. It runs one thread instead,
    # with the same chains.
    import multiprocessing
    want = [_state_after_sweeps(seed) for seed in (1, 2)]  # the parent's OpenMP threads are started
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map_async(_state_after_sweeps, [1, 2]).get(timeout=60) == want


def test_a_file_name_that_is_not_utf8_is_the_file_it_names(tmp_path):
    # os.listdir gives such a name with surrogate escapes; Python's open() takes it, and so does pbit.
    name = os.fsdecode(b"g\xff.txt")
    path = os.path.join(str(tmp_path), name)
    pbit.square_lattice(3).write(path)
    assert os.listdir(str(tmp_path)) == [name]
    assert pbit.Graph.read(path).num_nodes == 9
    assert pbit.cli("info", "--graph", path) == 0
    missing = os.path.join(str(tmp_path), os.fsdecode(b"no\xfe.json"))
    with pytest.raises(pbit.IoError) as e:
        pbit.Graph.read(missing)
    assert e.value.filename == missing and e.value.errno == errno.ENOENT
    assert "no\\xfe.json" in str(e.value)  # the message shows the byte, and prints
    import pickle  # as a multiprocessing worker's error comes back
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is pbit.IoError.FileNotFoundError and str(back) == str(e.value)
    assert (back.errno, back.strerror, back.filename) == (e.value.errno, e.value.strerror, e.value.filename)


def test_integer_parameters_are_checked_and_named():
    # These took raw C++ integers: 2**40 or 1.5 gave pybind11's TypeError with an overload list.
    with pytest.raises(pbit.InvalidArgument, match="num_nodes must be in"):
        pbit.Graph.from_edges(2**40, [0], [1], [1.0])
    with pytest.raises(pbit.InvalidArgument, match="degree: node must be in"):
        g().degree(2**70)
    with pytest.raises(pbit.InvalidArgument, match="degree: node must be an integer"):
        g().degree(1.5)
    with pytest.raises(pbit.InvalidArgument, match="L must be in"):
        pbit.square_lattice(2**40)
    with pytest.raises(pbit.InvalidArgument, match="sweeps must be in"):
        pbit.BetaSchedule.linear(0, 1, 2**70)
    with pytest.raises(pbit.InvalidArgument, match="replicas must be in"):
        pbit.TemperedSampler.geometric(1, 0.5, 2**40)
    assert pbit.square_lattice(np.int64(3)).num_nodes == 9
    assert g().degree(np.int32(4)) == 4


def test_input_numpy_cannot_make_an_array_of_is_refused_not_read_as_empty():
    # A ragged list used to become an empty array: biases silently zero, chain betas and clamps
    # silently cleared, snapshots dropped.
    ragged = [[0.5, 0.2], [0.1]]
    with pytest.raises(pbit.InvalidArgument, match=r"biases: expected an array of numbers \(numpy: .*inhomogeneous"):
        pbit.Graph.from_edges(3, [0], [1], [1.0], biases=ragged)
    s = pbit.Sampler(g(), chains=2, seed=1, backend="cpu")
    s.set_chain_betas([1.0, 2.0])
    with pytest.raises(pbit.InvalidArgument, match="expected an array of numbers"):
        s.set_chain_betas(ragged)
    s.set_clamp([0], [1])
    with pytest.raises(pbit.InvalidArgument, match="expected an array of numbers"):
        s.set_clamp([0], [[1.0], [1.0, 2.0]])
    with pytest.raises(pbit.InvalidArgument, match="snapshot_sweeps: expected an array of numbers"):
        s.run(pbit.SamplingSchedule(0, 3, 1), snapshot_sweeps=[[1], [2, 3]])
    with pytest.raises(pbit.InvalidArgument, match="expected an array of numbers"):
        s.set_weights([[1.0] * 12, [1.0]], np.zeros(9))
    # The refused calls changed nothing: the clamp and the factors hold.
    st = s.run(pbit.SamplingSchedule(0, 2, 1), snapshot_sweeps=[1, 2]).snapshots
    assert (st[:, :, 0] == 1).all()

    # An object whose own conversion fails raises its own exception, not an empty array.
    class Bad:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        pbit.Graph.from_edges(3, [0], [1], [1.0], biases=Bad())

    # The conversion runs once, whether it fails or not (an __array__ with side effects ran twice on
    # failure), and a failing one's ValueError is named with the argument.
    calls = []

    class Counted:
        def __init__(self, fail):
            self.fail = fail

        def __array__(self, *a, **k):
            calls.append(self.fail)
            if self.fail:
                raise ValueError("no numbers here")
            return np.array([0.5, 0.25, 0.0])

    counted = pbit.Graph.from_edges(3, [0], [1], [1.0], biases=Counted(False))
    assert list(counted.biases) == [0.5, 0.25, 0.0] and calls == [False]
    with pytest.raises(pbit.InvalidArgument, match=r"expected an array of numbers \(numpy: no numbers here\)"):
        pbit.Graph.from_edges(3, [0], [1], [1.0], biases=Counted(True))
    assert calls == [False, True]
    # A subclass of ndarray is read as the plain array it holds.
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    assert list(pbit.Graph.from_edges(3, [0], [1], [1.0], biases=masked).biases) == [1.0, 2.0, 3.0]


def test_a_short_roles_file_for_a_huge_graph_is_refused_before_any_allocation(tmp_path):
    p = tmp_path / "roles.json"
    p.write_text('{"format": "pbit.roles", "version": 1, "num_nodes": 2147483647, "roles": [{"name": "a", "nodes": [0]}]}')
    with pytest.raises(pbit.InvalidArgument, match="the roles list 1 node ids for 2147483647 nodes: at least 2147483646 have no role"):
        pbit.Roles.read(str(p), 2147483647)  # it allocated 8 GB first (std::bad_alloc, or minutes of swapping)


def test_what_was_asked_is_an_array_even_when_empty():
    edgeless = pbit.Graph.from_edges(3, [], [], [])
    s = pbit.Sampler(edgeless, chains=2, seed=1, backend="cpu")
    o = s.run(pbit.SamplingSchedule(0, 2, 1), moments=True, energy=True)
    assert o.edge_corr.shape == (0,) and o.edge_sum.shape == (0,)  # were None: "not asked"
    assert o.node_mean.shape == (3,) and o.energy.shape == (2, 2)
    assert o.readout_mean is None and o.snapshots is None  # not asked
    none = s.run(pbit.SamplingSchedule(2, 0, 1), moments=True, readout_groups=[[0, 1]])
    assert none.node_sum.shape == (3,) and not none.node_sum.any()
    assert none.readout_sum.shape == (2, 1)
    assert none.node_mean is None and none.readout_mean is None  # no samples: nothing to average


def test_an_empty_node_list_for_a_field_is_refused_with_what_to_give():
    s = pbit.Sampler(pbit.square_lattice(3), chains=2, seed=1, backend="cpu")
    for values in ([], [1.0] * 9):  # each was refused saying the other size was expected
        with pytest.raises(pbit.InvalidArgument, match="nodes is empty; give None for a field on every node"):
            s.set_field([], values)
    s.set_field(None, [0.5] * 9)


def test_index_arguments_say_what_they_got():
    g3 = pbit.square_lattice(3)
    with pytest.raises(pbit.InvalidArgument, match="expected integers within 64 bits"):
        pbit.Graph.from_edges(3, [2**70], [1], [1.0])
    with pytest.raises(pbit.InvalidArgument, match="got None"):
        pbit.Coloring(g3, None)
    s = pbit.Sampler(g3, chains=2, seed=1, backend="cpu")
    with pytest.raises(pbit.InvalidArgument, match="got a string"):
        s.run(pbit.SamplingSchedule(0, 1, 1), readout_groups=["abc"])


def test_piecewise_segments_are_checked_and_named():
    assert list(pbit.BetaSchedule.piecewise([(0.5, 2), (1.0, 1)]).expand(3)) == [0.5, 0.5, 1.0]
    assert list(pbit.BetaSchedule.piecewise([(np.float32(0.5), np.int64(2))]).expand(2)) == [0.5, 0.5]
    for segs, msg in (([(1.0, 2.5)], r"segments\[0\].sweeps"), ([(1.0, 2**63)], r"segments\[0\].sweeps must be in"),
                      ([(1.0, -5)], r"segments\[0\].sweeps must be in \[0, "),
                      ([(1.0,)], r"segments\[0\]: expected a \(beta, sweeps\) pair"), ("ab", "expected a sequence"),
                      ([("x", 2)], r"segments\[0\].beta")):
        with pytest.raises(pbit.InvalidArgument, match=msg):
            pbit.BetaSchedule.piecewise(segs)


def test_energy_of_one_state_is_a_float_and_of_no_states_an_empty_array():
    one = pbit.Graph.from_edges(1, [], [], [], biases=[0.5])
    assert one.energy(1) == -0.5 and isinstance(one.energy(1), float)  # was array([-0.5])
    g3 = pbit.square_lattice(3)
    e = g3.energy(np.ones((0, 9)))
    assert e.shape == (0,)  # was refused: "got 0"
    with pytest.raises(pbit.InvalidArgument, match="spins per row"):
        g3.energy(np.ones((0, 8)))
    # A graph of no nodes: its one state is empty, of energy 0 (helper-94: "expected N = 0 spins ... got 0")
    none = pbit.Graph.from_edges(0, [], [], [])
    assert none.energy([]) == 0.0 and isinstance(none.energy([]), float)
    np.testing.assert_array_equal(none.energy(np.ones((3, 0))), np.zeros(3))
    with pytest.raises(pbit.InvalidArgument, match="expected N = 0 spins"):
        none.energy([1])
    with pytest.raises(pbit.OutOfMemory):  # 2^40 rows of nothing: not 8.8 TB of zeros
        none.energy(np.empty((2**40, 0), np.int8))


def test_a_finite_value_past_float32_is_named_not_turned_into_inf():
    # numpy's cast would make 1e39 inf (with a RuntimeWarning), and pbit's check would then report
    # "inf" for a value the caller never wrote.
    import warnings
    g = pbit.square_lattice(3)
    s = pbit.Sampler(g, chains=2)
    cases = [
        (lambda: pbit.Graph.from_edges(2, [0], [1], [1e39]), r"weights: value 1e\+39 \(index 0\) is beyond float32's range"),
        (lambda: s.set_field([0, 1], [0.5, -1e39]), r"value -1e\+39 \(index 1\) is beyond float32's range"),
        (lambda: setattr(g, "biases", np.full(9, 4e38)), r"biases: value 4e\+38 \(index 0\)"),
        (lambda: pbit.BetaSchedule.per_sweep([0.5, 1e39]), r"betas: value 1e\+39 \(index 1\)"),
        (lambda: pbit.BetaSchedule.constant(1e39), r"beta: value 1e\+39 is beyond float32's range"),
        (lambda: pbit.BetaSchedule.linear(0.1, 1e300, 5), r"end: value 1e\+300"),
        (lambda: pbit.with_random_weights(g, 1, 1e39), r"sigma_j: value 1e\+39"),
        (lambda: pbit.square_lattice(3, J=-1e39), r"J: value -1e\+39"),
        (lambda: pbit.TemperedSampler.geometric(1.0, 1e40, 4), r"hottest: value 1e\+40"),
        (lambda: pbit.BetaSchedule.constant(10**400), r"beta must be a real number"),
        (lambda: pbit.BetaSchedule.linear("0.1", 1.0, 5), r"start must be a number, got str"),
        (lambda: pbit.square_lattice(3, J=1j), r"J must be a real number"),
        # Nor one float32 rounds to 0, as a graph file's weight is refused (it was loaded as 0).
        (lambda: pbit.Graph.from_edges(2, [0], [1], [1e-50]), r"weights: value 1e-50 \(index 0\) is too close to 0 for a float32"),
        (lambda: s.set_field([0, 1], [0.5, -1e-46]), r"value -1e-46 \(index 1\) is too close to 0 for a float32"),
        (lambda: pbit.BetaSchedule.constant(1e-300), r"beta: value 1e-300 is too close to 0 for a float32"),
    ]
    if np.longdouble("1e-4000") != 0:  # (x86's 80-bit longdouble: a double holds 1e-4000 as 0, which passed)
        cases += [
            (lambda: pbit.Graph.from_edges(2, [0], [1], np.array([np.longdouble("1e-4000")])),
             r"weights: value 1e-4000 \(index 0\) is too close to 0 for a float32"),
            (lambda: pbit.BetaSchedule.constant(np.longdouble("1e-4000")), r"beta: value 1e-4000 is too close to 0 for a float32"),
            (lambda: pbit.BetaSchedule.constant(np.longdouble("1e4000")), r"beta: value 1e\+4000 is beyond float32's range"),
        ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning on the way
        for call, message in cases:
            with pytest.raises(pbit.InvalidArgument, match=message):
                call()
    # Numbers of every kind still work, float32's largest too.
    assert pbit.square_lattice(3, J=np.float32(2)).coupling(0, 1) == 2.0
    assert pbit.BetaSchedule.constant(np.float64(0.5)).expand(1)[0] == 0.5
    assert pbit.Graph.from_edges(2, [0], [1], [1e36]).edge_weights[0] == np.float32(1e36)
    assert pbit.Graph.from_edges(2, [0], [1], [1e-44]).edge_weights[0] > 0  # a subnormal float32, not 0
    assert pbit.Graph.from_edges(2, [0], [1], [0.0]).edge_weights[0] == 0


def test_a_nul_in_a_string_argument_is_shown_not_cut():
    # The message was cut at the NUL: "unknown backend 'cu".
    with pytest.raises(pbit.InvalidArgument, match=r"unknown backend 'cu\\0da' \(expected"):
        pbit.Sampler(g(), chains=2, backend="cu\x00da")
    with pytest.raises(pbit.InvalidArgument, match=r"topology 'pega\\0sus:3'"):
        pbit.topology("pega\x00sus:3")


def test_a_python_without_numpy_is_told_so():
    # Without numpy the module's import failed saying only "initialization failed".
    import subprocess
    import sys
    code = "import sys; sys.modules['numpy'] = None; import pbit"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(pbit.__file__))})
    assert r.returncode != 0
    assert "ImportError: pbit needs numpy in this Python (" + sys.executable + ")" in r.stderr, r.stderr
