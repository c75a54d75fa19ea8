"""Parallel tempering through Python: every replica samples its own beta exactly."""
import json

import numpy as np
import pytest

import pbit
from helpers import cli_sample, exact_moments, worst_z


def test_every_replica_matches_enumeration_at_its_beta():
    g = pbit.with_random_weights(pbit.random_regular(8, 3, seed=5), 3, 1.0, 0.2)
    betas = pbit.TemperedSampler.geometric(2.0, 0.4, 4)
    chains = 3000
    t = pbit.TemperedSampler(g, chains=chains, betas=betas, seed=9)
    t.sweep(300)
    rs = t.replica_states.astype(np.int64)
    assert rs.shape == (4, chains, 8)
    i, j, _ = g.edges
    for r, beta in enumerate(betas):
        em, ec = exact_moments(g, beta)
        assert worst_z(rs[r].mean(0), (rs[r][:, i] * rs[r][:, j]).mean(0), em, ec, chains) < 5.0
    np.testing.assert_array_equal(t.state, t.replica_states[0])
    st = t.stats
    assert st["rounds"] == 300 and len(st["acceptance"]) == 3
    assert all(0.0 < a <= 1.0 for a in st["acceptance"]) and st["round_trips"] > 0


def test_observers_read_the_target_replicas():
    g = pbit.square_lattice(3)
    t = pbit.TemperedSampler(g, chains=10, betas=[1.0, 0.5], seed=1)
    t.set_clamp([4], [1])
    obs = t.run(pbit.SamplingSchedule(5, 4, 2), moments=True, energy=True, snapshot_sweeps=[13])
    assert obs.num_chains == 10 and obs.energy.shape == (4, 10) and obs.snapshots.shape == (1, 10, 9)
    assert obs.node_mean[4] == 1.0
    np.testing.assert_array_equal(obs.snapshots[0], t.state)


def test_progress_reaches_a_tempered_run_and_can_stop_it():
    t = pbit.TemperedSampler(pbit.square_lattice(4), chains=8, betas=[1.0, 0.5], seed=2)
    seen = []
    t.sweep(300, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (300, 300)
    assert set(range(3, 301, 3)) <= {d for d, _ in seen}, seen  # every 1% of the run

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop()

    try:
        t.sweep(1000, progress=stop)
        assert False, "the callback's exception did not end the run"
    except Stop:
        pass
    assert t.stats["rounds"] == 300 + 10, t.stats["rounds"]  # it ended at the first report, after 1% of the run
    # sweep_count says where it stopped, also between swap rounds (there the rounds do not).
    assert t.sweep_count == 310
    u = pbit.TemperedSampler(pbit.square_lattice(4), chains=8, betas=[1.0, 0.5], seed=2, sweeps_per_round=3)
    try:
        u.sweep(1000, progress=stop)
    except Stop:
        pass
    assert u.sweep_count == 10 and u.stats["rounds"] == 3
    assert repr(u).startswith("pbit.TemperedSampler(8 chains of 16 nodes, 2 replicas, "), repr(u)
    # Clamps and fields come off again, on every replica.
    u.set_clamp([0], [1])
    u.set_field(None, [5.0] * 16)
    u.clear_clamp()
    u.clear_field()
    u.sweep(30)
    reps = u.replica_states
    assert (reps[:, :, 0] == -1).any() and (reps == -1).any()
    with pytest.raises(pbit.InvalidArgument, match="adapt_rounds"):
        pbit.TemperedSampler(pbit.square_lattice(4), chains=8, betas=[1.0, 0.5], adapt_rounds=5)


@pytest.mark.parametrize("scheme", ["deo", "seo"])
def test_same_chains_and_swaps_as_the_cli_with_its_scheme_and_coloring(cli, tmp_path, scheme):
    # The graph's file carries a coloring of its own, one color a node (DSATUR gives the 3 x 3 torus 3),
    # which the CLI samples with; so must the TemperedSampler given it, at the scheme asked for. A
    # sampler that colored the graph itself, or swapped by 'deo' whatever the scheme, passed the rest.
    g = pbit.with_random_weights(pbit.square_lattice(3), 1, 0.8, 0.2)
    g.write(str(tmp_path / "g.json"))
    doc = json.loads((tmp_path / "g.json").read_text())
    doc["coloring"] = list(range(9))
    (tmp_path / "g.json").write_text(json.dumps(doc))
    cfg = {"chains": 6, "seed": 3, "backend": "cpu", "schedule": {"warmup": 5, "samples": 4, "steps_per_sample": 3},
           "tempering": {"betas": [1.0, 0.6, 0.3], "scheme": scheme, "sweeps_per_round": 2},
           "observe": {"moments": True, "snapshot_sweeps": [17]}}
    want = cli_sample(cli, tmp_path, cfg)
    coloring = pbit.Coloring(g, list(range(9)))
    t = pbit.TemperedSampler(g, chains=6, betas=[1.0, 0.6, 0.3], sweeps_per_round=2, scheme=scheme, seed=3, coloring=coloring)
    obs = t.run(pbit.SamplingSchedule(5, 4, 3), moments=True, snapshot_sweeps=[17])
    np.testing.assert_array_equal(obs.snapshots.ravel(), want["snapshots"])
    np.testing.assert_array_equal(obs.node_sum, want["node_sum"])
    st = t.stats
    assert st["rounds"] == want["tempering"]["rounds"] == 8
    assert st["round_trips"] == want["tempering"]["round_trips"]
    np.testing.assert_array_equal(st["acceptance"], want["tempering"]["swap_acceptance"])
