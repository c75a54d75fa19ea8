"""Graphs, topologies and colorings through Python."""
import numpy as np
import pytest

import pbit


def test_from_edges_round_trips_in_edge_order():
    i, j, w = np.array([3, 0, 2]), np.array([1, 2, 0]), np.array([0.5, -1.0, -1.0], dtype=np.float32)
    g = pbit.Graph.from_edges(4, i, j, w, biases=[0.1, 0.2, 0.3, 0.4])
    assert g.num_nodes == 4 and g.num_edges == 2  # (0, 2) given twice with the same weight: merged
    ei, ej, ew = g.edges
    np.testing.assert_array_equal(ei, [0, 1])
    np.testing.assert_array_equal(ej, [2, 3])
    np.testing.assert_array_equal(ew, np.array([-1.0, 0.5], dtype=np.float32))
    assert g.coupling(3, 1) == 0.5 and g.coupling(0, 1) == 0.0
    np.testing.assert_array_equal(g.biases, np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32))


def test_weights_can_be_replaced():
    g = pbit.square_lattice(4)
    g.edge_weights = np.full(g.num_edges, -0.5, dtype=np.float32)
    g.biases = np.ones(16, dtype=np.float32)
    assert float(g.edge_weights[3]) == -0.5 and float(g.biases[15]) == 1.0
    assert g.energy(np.ones(16)) == pytest.approx(-(-0.5 * g.num_edges + 16))


@pytest.mark.parametrize("name", ["g.json", "g.txt"])
def test_graph_files_round_trip(tmp_path, name):
    g = pbit.with_random_weights(pbit.random_regular(30, 3, seed=2), 1, 0.7, 0.2)
    g.write(str(tmp_path / name))
    back = pbit.Graph.read(str(tmp_path / name))
    for a, b in zip(g.edges, back.edges):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(g.biases, back.biases)


def test_pegasus_topology_and_its_coloring():
    t = pbit.topology("pegasus:2")
    g = t.graph
    assert (g.num_nodes, g.num_edges) == (40, 164)  # 24m(m-1) - 8(m-1) nodes, 180(m-1)^2 - 16 edges
    colors = t.colors
    i, j, _ = g.edges
    assert np.all(colors[i] != colors[j])
    assert t.coloring().num_colors == len(set(colors.tolist()))
    c = pbit.color_graph(pbit.square_lattice(4))
    assert c.num_colors == 2


def test_a_bad_coloring_is_refused():
    g = pbit.square_lattice(3)
    with pytest.raises(pbit.InvalidColoring):
        pbit.Coloring(g, np.zeros(9, dtype=np.int32))
    ok = pbit.Coloring(g, pbit.color_graph(g).colors)
    s = pbit.Sampler(g, chains=2, coloring=ok)
    assert s.coloring.num_colors == ok.num_colors


def test_roles_are_placed_by_seed_and_round_trip(tmp_path):
    t = pbit.topology("pegasus:4")
    n = t.graph.num_nodes
    r = pbit.place_roles(n, "visible:100,label:20,hidden:rest", seed=3, colors=t.colors)
    assert r.names == ["visible", "label", "hidden"] and len(r) == 3 and "label" in r
    assert len(r["visible"]) == 100 and len(r["hidden"]) == n - 120
    assert sorted(np.concatenate([r[k] for k in r.names]).tolist()) == list(range(n))
    np.testing.assert_array_equal(r["visible"], pbit.place_roles(n, "visible:100,label:20,hidden:rest", seed=3)["visible"])
    in_order = pbit.place_roles(n, "visible:100,label:20,hidden:rest", in_order=True)
    np.testing.assert_array_equal(in_order["visible"], np.arange(100))
    r.write(str(tmp_path / "roles.json"))
    back = pbit.Roles.read(str(tmp_path / "roles.json"), n)
    np.testing.assert_array_equal(back.role_of, r.role_of)
    d = {(x["from"], x["to"]): x for x in pbit.role_distances(t.graph, r)}
    far = {(x["from"], x["to"]): x for x in pbit.role_distances(t.graph, in_order)}
    # index randomization puts every role within a few hops of the others; index order does not
    assert d[("label", "visible")]["mean_hops"] < far[("label", "visible")]["mean_hops"]
    with pytest.raises(pbit.InvalidArgument):
        pbit.place_roles(n, "visible:100000,hidden:rest")
    # On a path 0-1-2-3-4: a = {0, 1} is 4 and 3 hops from b = {4}, 2 and 1 from c = {2, 3}.
    path = pbit.Graph.from_edges(5, [0, 1, 2, 3], [1, 2, 3, 4], [1.0] * 4)
    hops = {(x["from"], x["to"]): (x["mean_hops"], x["max_hops"], x["unreachable"])
            for x in pbit.role_distances(path, pbit.place_roles(5, "a:2,c:2,b:1", in_order=True))}
    assert hops[("a", "b")] == (3.5, 4, 0) and hops[("a", "c")] == (1.5, 2, 0) and hops[("b", "a")] == (3.0, 3, 0), hops
