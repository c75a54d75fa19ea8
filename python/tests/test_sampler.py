"""The sampler through Python: exact answers, determinism, bit identity with the CLI, zero copies."""
import math
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import pbit
from helpers import cli_sample, exact_moments, source_dir, worst_z


def small_graphs():
    return {
        "regular10": pbit.with_random_weights(pbit.random_regular(10, 3, seed=3), 4, 0.8, 0.3),
        "lattice3": pbit.with_random_weights(pbit.square_lattice(3), 5, 0.7, 0.2),
        "frustrated8": pbit.with_random_weights(pbit.random_regular(8, 4, seed=2), 6, 0.6, 0.1),
    }


def test_readme_example_matches_the_cpp_example():
    # The README's C++ example (examples/quickstart.cpp) in Python: the same numbers.
    g = pbit.with_random_weights(pbit.random_regular(1000, 3, seed=1), seed=2, sigma_j=0.5, sigma_h=0.1)
    s = pbit.Sampler(g, chains=4096, backend="cpu", seed=42)
    s.set_clamp([0], [1])
    obs = s.run(pbit.SamplingSchedule(warmup=100, samples=100, steps_per_sample=2),
                beta=pbit.BetaSchedule.linear(0.1, 1.0, 100), moments=True)
    assert s.coloring.num_colors == 3
    assert obs.node_mean[0] == 1.0
    i, j, _ = g.edges
    assert (i[0], j[0]) == (0, 512)
    s1, c01 = float(obs.node_mean[1]), float(obs.edge_corr[0])
    # The numbers docs/PYTHON.md quotes for this example ("[1.  0.1346...] -0.5524...").
    doc = open(os.path.join(source_dir(), "docs", "PYTHON.md"), encoding="utf-8").read()
    quoted = re.search(r"# \[1\.  (0\.\d+)\.\.\.\] (-?0\.\d+)\.\.\.: examples/quickstart\.cpp's numbers", doc)
    assert quoted, "docs/PYTHON.md no longer quotes the quickstart's numbers"
    def truncated(x, like):  # x cut to as many decimals as the docs give, as "0.1346..." is
        d = len(like.split(".")[1])
        return math.trunc(x * 10 ** d) / 10 ** d
    assert (truncated(s1, quoted.group(1)), truncated(c01, quoted.group(2))) == (float(quoted.group(1)), float(quoted.group(2))), \
        (s1, c01, quoted.groups())
    # What examples/quickstart.cpp itself prints (CTest gives its path): "<s_1> = 0.135, <s_0 s_512> = -0.552".
    example = os.environ.get("PBIT_QUICKSTART")
    if example:
        out = subprocess.run([example], capture_output=True, text=True, check=True).stdout
        printed = re.search(r"<s_1> = (-?[\d.]+), <s_0 s_512> = (-?[\d.]+)", out)
        assert printed, out
        assert (f"{s1:.3f}", f"{c01:.3f}") == printed.groups(), out


@pytest.mark.parametrize("name", sorted(small_graphs()))
def test_marginals_and_correlations_match_enumeration(backend, name):
    g = small_graphs()[name]
    chains, beta = 4000, 1.3
    s = pbit.Sampler(g, chains=chains, backend=backend, seed=11)
    s.sweep(200, beta=beta)
    st = s.state.astype(np.int64)  # one independent sample per chain
    i, j, _ = g.edges
    mean, corr = st.mean(axis=0), (st[:, i] * st[:, j]).mean(axis=0)
    em, ec = exact_moments(g, beta)
    assert worst_z(mean, corr, em, ec, chains) < 5.0


def test_clamps_and_fields_give_the_conditional_distribution(backend):
    g = small_graphs()["regular10"]
    chains = 4000
    s = pbit.Sampler(g, chains=chains, backend=backend, seed=5)
    s.set_clamp([2, 7], [1, -1])
    s.set_field([0, 4], [0.6, -0.4])
    obs = s.run(pbit.SamplingSchedule(warmup=200, samples=1), moments=True)
    em, ec = exact_moments(g, 1.0, (2, 7), (1, -1), (0, 4), (0.6, -0.4))
    assert obs.node_mean[2] == 1.0 and obs.node_mean[7] == -1.0
    assert worst_z(obs.node_mean, obs.edge_corr, em, ec, chains) < 5.0


def test_backends_are_bit_identical():
    g = pbit.topology("pegasus:2").graph
    g = pbit.with_random_weights(g, 9, 0.5, 0.2)
    runs = {}
    for b in pbit.backends():
        if b == "cuda":
            continue
        s = pbit.Sampler(g, chains=77, backend=b, seed=3)
        s.set_field(None, np.linspace(-0.5, 0.5, g.num_nodes, dtype=np.float32))
        obs = s.run(pbit.SamplingSchedule(10, 5, 3), beta=0.9, moments=True, energy=True)
        runs[b] = (s.state.copy(), obs.edge_sum.copy(), obs.energy.copy())
    ref = runs.pop("reference")
    for b, got in runs.items():
        for a, want in zip(got, ref):
            np.testing.assert_array_equal(a, want, err_msg=b)


def test_same_seed_same_chains_and_another_seed_others():
    g = small_graphs()["regular10"]
    a, b, c = (pbit.Sampler(g, chains=64, seed=s) for s in (1, 1, 2))
    for x in (a, b, c):
        x.sweep(20)
    np.testing.assert_array_equal(a.state, b.state)
    assert not np.array_equal(a.state, c.state)


def test_split_runs_continue_the_same_chains():
    g = small_graphs()["lattice3"]
    one, two = pbit.Sampler(g, chains=50, seed=4), pbit.Sampler(g, chains=50, seed=4)
    one.sweep(30, beta=0.7)
    for _ in range(3):
        two.sweep(10, beta=0.7)
    assert two.sweep_count == 30
    np.testing.assert_array_equal(one.state, two.state)


@pytest.mark.parametrize("contract", ["exact", "fast"])
def test_same_numbers_as_the_cli(cli, tmp_path, contract):
    # Under each RNG contract (a sampler that ran the exact one when asked for the fast one passed the rest).
    g = pbit.with_random_weights(pbit.topology("pegasus:2").graph, 1, 0.5, 0.1)
    g.write(str(tmp_path / "g.json"))
    cfg = {"chains": 96, "seed": 7, "backend": "cpu", "contract": contract,
           "schedule": {"warmup": 20, "samples": 10, "steps_per_sample": 2},
           "beta": {"linear": {"from": 0.1, "to": 1.0, "sweeps": 20}},
           "clamp": {"nodes": [0, 1], "values": [1, -1]}, "field": {"nodes": [2, 3], "values": [0.5, -0.5]},
           "observe": {"moments": True, "readout_groups": [[4, 5, 6], [7, 8, 9]], "snapshot_sweeps": [40]}}
    want = cli_sample(cli, tmp_path, cfg)
    s = pbit.Sampler(pbit.Graph.read(str(tmp_path / "g.json")), chains=96, backend="cpu", seed=7, contract=contract)
    s.set_clamp([0, 1], [1, -1])
    s.set_field([2, 3], [0.5, -0.5])
    obs = s.run(pbit.SamplingSchedule(20, 10, 2), beta=pbit.BetaSchedule.linear(0.1, 1.0, 20), moments=True,
                readout_groups=[[4, 5, 6], [7, 8, 9]], snapshot_sweeps=[40])
    np.testing.assert_array_equal(obs.node_sum, want["node_sum"])
    np.testing.assert_array_equal(obs.edge_sum, want["edge_sum"])
    np.testing.assert_array_equal(obs.readout_sum.ravel(), want["readout_sum"])
    np.testing.assert_array_equal(obs.snapshots.ravel(), want["snapshots"])


def test_a_graph_files_coloring_gives_the_clis_chains(cli, tmp_path):
    # pbit sample updates a graph file by the coloring the file holds; a Sampler colors its graph
    # itself unless given one (on Pegasus(6) color_graph's coloring is another: other chains).
    t = pbit.topology("pegasus:6")
    g = pbit.with_random_weights(t.graph, 2, 0.5, 0.1)
    g.write(tmp_path / "g.json", coloring=t.coloring())
    cfg = {"chains": 32, "seed": 3, "backend": "cpu", "schedule": {"warmup": 5, "samples": 1, "steps_per_sample": 1},
           "observe": {"snapshot_sweeps": [6]}}
    want = np.asarray(cli_sample(cli, tmp_path, cfg)["snapshots"])
    read, coloring = pbit.read_graph_file(tmp_path / "g.json")
    assert read == g and coloring is not None
    np.testing.assert_array_equal(coloring.colors, t.colors)

    def chains(**kw):
        s = pbit.Sampler(read, chains=32, backend="cpu", seed=3, **kw)
        return s.run(pbit.SamplingSchedule(5, 1, 1), snapshot_sweeps=[6]).snapshots.ravel()

    np.testing.assert_array_equal(chains(coloring=coloring), want)
    np.testing.assert_array_equal(chains(coloring=t.coloring()), want)
    assert not np.array_equal(chains(), want)  # (the coloring matters here: the test can fail)
    g.write(tmp_path / "plain.json")
    assert pbit.read_graph_file(str(tmp_path / "plain.json"))[1] is None
    with pytest.raises(pbit.InvalidArgument, match="edge list"):
        g.write(tmp_path / "g.txt", coloring=t.coloring())
    with pytest.raises(pbit.InvalidColoring):
        pbit.square_lattice(3).write(tmp_path / "bad.json", coloring=t.coloring())


def test_results_are_numpy_arrays_without_copies():
    g = small_graphs()["regular10"]
    s = pbit.Sampler(g, chains=8, seed=1)
    obs = s.run(pbit.SamplingSchedule(2, 3, 1), moments=True, energy=True, snapshot_sweeps=[1, 5])
    for a in (obs.node_mean, obs.edge_sum, obs.energy, obs.snapshots):
        assert isinstance(a, np.ndarray)
        assert not a.flags.owndata  # a view of the C++ result, kept alive by the array
    assert obs.energy.shape == (3, 8) and obs.snapshots.shape == (2, 8, 10)
    assert obs.readout_mean is None
    d = np.from_dlpack(obs.node_mean)  # DLPack on the CPU
    assert np.shares_memory(d, obs.node_mean)
    assert s.state.dtype == np.int8 and s.state.shape == (8, 10)


def test_energies_match_the_definition():
    g = small_graphs()["frustrated8"]
    s = pbit.Sampler(g, chains=20, seed=2)
    s.set_field([1], np.arange(20, dtype=np.float32).reshape(20, 1) * 0.1)
    s.sweep(5)
    st = s.state.astype(np.int64)
    i, j, w = g.edges
    e = -((st[:, i] * st[:, j]) @ w.astype(np.float64) + st @ g.biases.astype(np.float64))
    np.testing.assert_allclose(g.energy(s.state), e, rtol=0, atol=1e-9)
    np.testing.assert_allclose(s.chain_energies(), e - 0.1 * np.arange(20) * st[:, 1], rtol=0, atol=1e-6)
    assert isinstance(g.energy(s.state[0]), float)


def test_a_beta_array_is_a_per_sweep_schedule():
    g = small_graphs()["lattice3"]
    a, b = pbit.Sampler(g, chains=30, seed=8), pbit.Sampler(g, chains=30, seed=8)
    sched = pbit.BetaSchedule.linear(0.2, 1.4, 12)
    a.sweep(12, beta=sched)
    b.sweep(12, beta=sched.expand(12))
    np.testing.assert_array_equal(a.state, b.state)
    assert sched.expand(12)[0] == np.float32(0.2) and sched.expand(12)[-1] == np.float32(1.4)


def test_a_beta_of_any_real_number_type_is_that_number():
    # A Fraction or a Decimal was refused as "object values"; each is the float it stands for.
    import decimal
    import fractions
    g = small_graphs()["lattice3"]
    ref = pbit.Sampler(g, chains=8, seed=3)
    ref.sweep(5, beta=0.75)
    for b in (fractions.Fraction(3, 4), decimal.Decimal("0.75"), np.float32(0.75)):
        s = pbit.Sampler(g, chains=8, seed=3)
        s.sweep(5, beta=b)
        np.testing.assert_array_equal(s.state, ref.state)
    with pytest.raises(pbit.InvalidArgument, match="beta must be a real number"):
        pbit.Sampler(g, chains=8, seed=3).sweep(5, beta=1 + 2j)


def test_long_calls_release_the_gil():
    g = pbit.topology("pegasus:4").graph
    s = pbit.Sampler(g, chains=2048, seed=1, threads=1)
    done = threading.Event()
    t = threading.Thread(target=lambda: (s.sweep(300), done.set()))
    t.start()
    ticks = 0
    while not done.is_set():  # Python runs here only if the sweep released the GIL
        ticks += 1
    t.join()
    assert ticks > 1000


def exits_cleanly(script, runs):
    # Runs `script` (daemon threads started), then ends its main thread with a million objects for
    # the finalization to free meanwhile: exit status 0 and the main thread's line only, every run.
    tail = "\njunk = [[i] for i in range(1000000)]\ntime.sleep(0.2)\nprint('main thread done')\n"
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", script + tail], capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, "main thread done\n"), r.stderr[-500:]


def test_daemon_threads_sampling_at_exit_do_not_crash_it():
    # The main thread ends, with a million objects for the finalization to free, while 16 daemon
    # threads loop over short runs: with keyword arguments, with progress callbacks that run Python
    # code, with the status line, and tempered. Python 3.11 ends a thread that takes the GIL back
    # during the finalization with pthread_exit, whose unwinding ran pbit's and pybind11's
    # destructors without the GIL: 15 runs of 15 aborted once, and after a first fix 9 of 10 still
    # crashed (pybind11's copy of the keywords freed beside the garbage collection). See gil.hpp.
    script = """
import threading, time, pbit
g = pbit.square_lattice(8)
def cb(done, total):
    sum(range(200))
def loop(s, k):
    beta = [0.7]
    while True:
        if k % 3 == 0:
            s.sweep(1, beta=beta)
        elif k % 3 == 1:
            s.sweep(30, beta=beta, progress=cb)
        else:
            s.sweep(3, progress=True)
for k in range(16):
    threading.Thread(target=loop, args=(pbit.Sampler(g, 2, seed=k), k), daemon=True).start()
t = pbit.TemperedSampler(g, chains=4, betas=[1.0, 0.5])
threading.Thread(target=lambda: [t.sweep(20) for _ in iter(int, 1)], daemon=True).start()
"""
    exits_cleanly(script, runs=3)


def test_daemon_threads_run_no_python_in_pbit_calls_after_its_atexit_hook():
    # pbit's atexit hook (registered at import, so run before an atexit function registered earlier)
    # stops daemon threads at their next pbit call and at their next progress check: from then on
    # none of them runs Python code inside pbit, which the finalization's pthread_exit could unwind.
    script = """
import atexit, threading, time
def later():
    seen = dict(counts)
    time.sleep(0.3)
    print("calls", counts["calls"] - seen["calls"], "callbacks", counts["callbacks"] - seen["callbacks"])
atexit.register(later)  # before import pbit: runs after pbit's hook
import pbit
counts = {"calls": 0, "callbacks": 0}
g = pbit.square_lattice(8)
def calls(s):  # pbit calls that keep the GIL (one, begun before the hook, may be counted after it)
    while True:
        s.num_chains
        counts["calls"] += 1
def callbacks(s):  # Python code inside a pbit call
    def cb(done, total):
        counts["callbacks"] += 1
    while True:
        s.sweep(50, progress=cb)
for k, f in enumerate([calls, callbacks]):
    threading.Thread(target=f, args=(pbit.Sampler(g, 2, seed=k),), daemon=True).start()
for _ in range(3000):  # until both have begun (0.2 s was not always enough under load)
    time.sleep(0.01)
    if min(counts.values()) > 0:
        break
assert min(counts.values()) > 0, counts
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and re.fullmatch(r"calls [01] callbacks 0\n", r.stdout), (r.stdout, r.stderr[-500:])


def test_daemon_threads_held_in_python_past_the_atexit_hook_do_not_crash_it():
    # Threads that run Python code inside a pbit call (an argument's __index__, a progress callback)
    # and are held there until after pbit's atexit hook has given up waiting (a second) are ended by
    # the finalization's pthread_exit inside that code: the unwinding must stop at pbit's frames.
    script = """
import atexit, threading, time
release = threading.Event()
atexit.register(release.set)  # before import pbit: runs after pbit's hook
import pbit
g = pbit.square_lattice(8)
class Held:
    def __index__(self):
        release.wait()
        return 2
def held(done, total):
    release.wait()
for k in range(8):
    threading.Thread(target=lambda k=k: pbit.Sampler(g, chains=Held(), seed=k), daemon=True).start()
    threading.Thread(target=lambda k=k: pbit.Sampler(g, 2, seed=k).sweep(5, progress=held), daemon=True).start()
"""
    exits_cleanly(script, runs=2)


def test_a_forked_child_counts_no_thread_of_its_parent_in_pbit_calls():
    # The parent's count of threads running Python inside pbit calls (what pbit's atexit hook waits
    # for) does not carry over to a fork, whose only thread is the forking one.
    from pbit import _pbit
    release, started = threading.Event(), threading.Event()

    def held(done, total):
        started.set()
        release.wait()
    worker = threading.Thread(target=lambda: pbit.Sampler(small_graphs()["lattice3"], 2, seed=1).sweep(3, progress=held))
    worker.start()
    try:
        assert started.wait(30)
        assert _pbit._threads_in_python() == 1
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, str(_pbit._threads_in_python()).encode())
            os._exit(0)
        os.close(w)
        child = os.read(r, 16)
        os.close(r)
        os.waitpid(pid, 0)
    finally:
        release.set()
        worker.join()
    assert child == b"0"
    assert _pbit._threads_in_python() == 0


def test_a_child_forked_from_a_thread_runs_pbit_calls_after_its_atexit_hook():
    # The forking thread is the child's main thread. Where it was not the parent's, the child once
    # took it for a daemon thread: a pbit call after the child's atexit hook (here, from an atexit
    # function registered before `import pbit`, so run after its hook) parked it, and the child hung.
    script = """
import atexit, os, sys, threading, time
def late():
    g = pbit.square_lattice(3)
    pbit.Sampler(g, 2, seed=1).sweep(2)
    os.write(1, b"late call: %d nodes\\n" % g.num_nodes)
atexit.register(late)
import pbit
def worker():
    pid = os.fork()
    if pid == 0:
        atexit._run_exitfuncs()
        os._exit(0)
    until = time.monotonic() + 20
    while time.monotonic() < until:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("child exit status", status)
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung")
t = threading.Thread(target=worker)
t.start()
t.join()
atexit.unregister(late)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "late call: 9 nodes\nchild exit status 0\n"), (r.stdout, r.stderr[-500:])


def test_every_binding_is_guarded_for_daemon_threads_at_exit():
    # gil.hpp routes every pybind11 function of the module through its guard, found at import by
    # walking the module; here the same functions are found from Python's side.
    from pbit import _pbit

    def callables(v):
        if isinstance(v, property):
            yield from (v.fget, v.fset, v.fdel)
        elif isinstance(v, staticmethod):
            yield v.__func__
        else:
            yield v

    bindings = []  # (name, 1 if guarded else 0), for each pybind11 function (a property: its getter and setter)
    for name, v in vars(_pbit).items():
        members = vars(v).items() if isinstance(v, type) and v.__module__.startswith("pbit") else [("", v)]
        for member, m in members:
            bindings += [(f"{name}.{member}" if member else name, g) for g in map(_pbit._guarded, callables(m)) if g != -1]
    names = {k for k, _ in bindings}
    assert len(names) > 60 and {"Sampler.sweep", "Graph.num_nodes", "topology"} <= names, sorted(names)
    assert [k for k, g in bindings if g != 1] == []


def test_threads_whose_first_call_converts_an_array_do_not_deadlock():
    # A fresh interpreter whose threads all begin with a call that converts an array (here a list):
    # pybind11 2.10 looks numpy's C API up on first use, importing numpy under a static guard, and
    # that import lets the GIL go; a second thread, holding the GIL, then waited on the guard forever
    # (10 runs of 10 hung). The lookup is now made at import.
    script = """
import threading, pbit
g = pbit.square_lattice(8)
samplers = [pbit.Sampler(g, 2, seed=k) for k in range(8)]
threads = [threading.Thread(target=lambda s=s: s.sweep(1, beta=[0.7])) for s in samplers]
for t in threads: t.start()
for t in threads: t.join()
print("joined")
"""
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (0, "joined\n"), r.stderr[-500:]


def test_per_chain_betas_change_only_their_chains():
    g = small_graphs()["regular10"]
    a, b = pbit.Sampler(g, chains=6, seed=3), pbit.Sampler(g, chains=6, seed=3)
    b.set_chain_betas([1, 1, 1, 1, 1, 0.2])
    a.sweep(20)
    b.sweep(20)
    np.testing.assert_array_equal(a.state[:5], b.state[:5])
    assert not np.array_equal(a.state[5], b.state[5])


def test_progress_is_reported_and_changes_nothing(capsys):
    g = small_graphs()["lattice3"]
    a, b = pbit.Sampler(g, chains=40, seed=9), pbit.Sampler(g, chains=40, seed=9)
    sched = pbit.SamplingSchedule(warmup=100, samples=50, steps_per_sample=2)
    calls = []
    oa = a.run(sched, beta=0.6, moments=True)
    ob = b.run(sched, beta=0.6, moments=True, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_array_equal(oa.edge_sum, ob.edge_sum)
    np.testing.assert_array_equal(a.state, b.state)
    assert calls[-1] == (200, 200) and len(calls) >= 100
    assert all(x[0] < y[0] for x, y in zip(calls, calls[1:]))
    b.sweep(50, progress=True)  # pbit's status line on stderr
    err = capsys.readouterr().err
    assert "Sampler.sweep [" in err and "50/50 sweeps" in err, err
    with pytest.raises(pbit.InvalidArgument, match="progress"):
        b.sweep(5, progress="yes")


def test_an_exception_from_progress_stops_the_run_where_it_was():
    g = small_graphs()["regular10"]
    whole, cut = pbit.Sampler(g, chains=30, seed=2), pbit.Sampler(g, chains=30, seed=2)
    whole.sweep(100, beta=0.8)

    # 100 sweeps: stretches of one sweep (1% of the run), so the stop is at 40 whatever the timing
    def stop_at_40(done, total):
        if done >= 40:
            raise KeyboardInterrupt  # what Ctrl-C raises from the signal check
    with pytest.raises(KeyboardInterrupt):
        cut.sweep(100, beta=0.8, progress=stop_at_40)
    assert cut.sweep_count == 40
    cut.sweep(60, beta=0.8)
    np.testing.assert_array_equal(whole.state, cut.state)


def test_ctrl_c_ends_a_long_run_with_progress():
    import _thread
    g = pbit.topology("pegasus:4").graph
    s = pbit.Sampler(g, chains=1024, seed=1, threads=1)
    timer = threading.Timer(0.3, _thread.interrupt_main)  # as Ctrl-C: a pending SIGINT for the main thread
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        s.sweep(10**6, progress=lambda done, total: None)
    timer.join()
    assert 0 < s.sweep_count < 10**6


def test_ctrl_c_ends_the_status_line_of_progress_true(capsys):
    # (helper-94: the cut status line had no newline, so the traceback began on it)
    import _thread
    s = pbit.Sampler(pbit.topology("pegasus:4").graph, chains=1024, seed=1, threads=1)
    timer = threading.Timer(0.6, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        s.sweep(10**6, progress=True)
    timer.join()
    err = capsys.readouterr().err
    assert "/1000000 sweeps" in err and err.endswith("\n") and err.count("\n") == 1, repr(err[-200:])
    s.sweep(5, progress=True)  # a finished run ends its own line, once
    err = capsys.readouterr().err
    assert err.endswith("5/5 sweeps, elapsed 0s eta 0s\n") and err.count("\n") == 1, repr(err)


def test_ctrl_c_ends_a_long_run_without_progress():
    # Without progress= a run was one stretch: Ctrl-C waited for its end (minutes to days). Uncut, the
    # runs would last about 20 s each here (60 times the 0.3 s before Ctrl-C): how long the test takes
    # to fail where the check is broken (the tempered run of 10**6 sweeps took some 8 minutes).
    import _thread
    g = pbit.topology("pegasus:4").graph
    s = pbit.Sampler(g, chains=1024, seed=1, threads=1)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        s.sweep(10**5)
    timer.join()
    assert 0 < s.sweep_count < 10**5
    t = pbit.TemperedSampler(g, 64, [1.0, 0.7, 0.5], seed=1, threads=1)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        t.sweep(2 * 10**4)
    timer.join()
    # A short run without progress= stays whole and gives what it gave before.
    a = pbit.Sampler(g, chains=64, seed=3, threads=1)
    b = pbit.Sampler(g, chains=64, seed=3, threads=1)
    a.sweep(50, beta=0.7)
    b.sweep(50, beta=0.7, progress=lambda done, total: None)
    np.testing.assert_array_equal(a.state, b.state)


@pytest.mark.parametrize("backend", ["reference", "cpu", "packed"])
def test_state_dlpack_exports_the_state_where_it_lives(backend):
    import gc
    g = small_graphs()["regular10"]
    s = pbit.Sampler(g, chains=21, seed=5, backend=backend)
    s.sweep(7, beta=0.8)
    exported = s.state_dlpack()
    assert exported.shape == (21, 10) and not exported.on_device
    assert exported.__dlpack_device__() == (1, 0)  # kDLCPU
    expected = s.state
    a = np.from_dlpack(exported)
    assert a.dtype == np.int8 and a.shape == (21, 10)
    np.testing.assert_array_equal(a, expected)
    s.sweep(5)  # a snapshot: the exported array does not move
    del s, exported
    gc.collect()  # the array keeps its buffer alive on its own
    np.testing.assert_array_equal(a, expected)
    capsule = pbit.Sampler(g, chains=3, seed=1).state_dlpack().__dlpack__()  # never consumed: freed with the capsule
    del capsule
    # The array API's keywords are checked as keywords: a TypeError naming the argument.
    view = pbit.Sampler(g, chains=3, seed=1).state_dlpack()
    for kw, msg in (({"dl_device": "cpu"}, "dl_device must be a"), ({"copy": "yes"}, "copy must be True, False or None"),
                    ({"bogus": 1}, "unexpected keyword argument 'bogus'")):
        with pytest.raises(TypeError, match=msg):
            view.__dlpack__(**kw)
    with pytest.raises(BufferError):
        view.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError):
        view.__dlpack__(copy=np.True_)  # numpy's bool is a bool
    with pytest.raises(TypeError, match="at most 1 positional argument"):
        view.__dlpack__(1, 2, 3)
    assert np.from_dlpack(view).shape == (3, 10)  # the refused calls left the array as it was
    # numpy's own conversions read a host array too (np.asarray gave a 0-d object array).
    np.testing.assert_array_equal(np.asarray(view), np.from_dlpack(view))
    assert np.asarray(view).dtype == np.int8 and np.array(view, dtype=np.float32).dtype == np.float32
    if "cuda" in pbit.backends() and pbit.backend_unavailable_reason("cuda") == "":
        gpu = pbit.Sampler(g, chains=21, seed=5, backend="cuda").state_dlpack()
        assert gpu.on_device and gpu.__dlpack_device__()[0] == 2  # kDLCUDA
        with pytest.raises(TypeError, match="lives on CUDA device"):
            np.asarray(gpu)
