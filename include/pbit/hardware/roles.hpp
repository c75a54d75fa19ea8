// Node roles (visible, hidden, label replicas, data, latent, ...) placed on a graph's nodes.
//
// Where roles sit matters: Niazi et al. 2024 found that placing visible, label and hidden nodes by a
// seeded random permutation ("index randomization") instead of in index order lifted a sparse DBM on
// Pegasus from about 50% to about 90% MNIST accuracy, because it puts every role within a few hops of
// every other. role_distances() reports exactly those hop distances.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/graph.hpp"

namespace pbit {

/// One role to place: `count` nodes (-1 = all nodes still unassigned), optionally only of one color.
struct RoleSpec {
  std::string name;
  int32_t count = -1;
  int32_t color = -1;  ///< -1 = any color
};

/// An exact partition of the nodes into named roles.
struct RoleAssignment {
  std::vector<std::string> names;
  /// Per role, its nodes in placement order (e.g. visible node k is the node of pixel k).
  std::vector<std::vector<int32_t>> nodes;
  /// Per node, the index of its role in `names`.
  std::vector<int32_t> role_of;

  /// Index of role `name`; throws InvalidArgument if absent.
  int32_t index(const std::string& name) const;
  const std::vector<int32_t>& of(const std::string& name) const { return nodes[static_cast<size_t>(index(name))]; }
  /// Throws InvalidArgument unless every node of 0..num_nodes-1 is in exactly one role.
  void validate(int32_t num_nodes) const;
};

/// Index randomization: roles take, in order, the next nodes of one seeded random permutation of all
/// nodes (skipping nodes of the wrong color for a role with `color` >= 0). Same seed, same placement.
/// With `colors` null, color constraints are errors. The roles must cover every node exactly once
/// (give the last role count -1). Throws InvalidArgument when a role cannot be filled.
RoleAssignment place_roles(int32_t num_nodes, const std::vector<RoleSpec>& roles, uint64_t seed,
                           const std::vector<int32_t>* colors = nullptr);
/// The same without randomization: roles take nodes in index order (the baseline that mixes poorly).
RoleAssignment place_roles_in_order(int32_t num_nodes, const std::vector<RoleSpec>& roles,
                                    const std::vector<int32_t>* colors = nullptr);

/// Parses "visible:784,label:50,hidden:rest" or "data:784:0,latent:rest" (name:count[:color]).
std::vector<RoleSpec> parse_role_specs(const std::string& text);

/// {"format": "pbit.roles", "version": 1, "num_nodes": N, "roles": [{"name": ..., "nodes": [...]}, ...]}
nlohmann::json roles_to_json(const RoleAssignment& r);
RoleAssignment roles_from_json(const nlohmann::json& j, int32_t num_nodes, const std::string& source = "roles JSON");
RoleAssignment read_roles_file(const std::string& path, int32_t num_nodes);
void write_roles_file(const std::string& path, const RoleAssignment& r);

/// Hop distances from the nodes of role `from` to the nearest node of role `to` (BFS).
struct RoleDistance {
  std::string from, to;
  double mean_hops = 0;   ///< over the `from` nodes that reach a `to` node
  int32_t max_hops = 0;
  int64_t unreachable = 0;  ///< `from` nodes with no path to any `to` node
};
/// All ordered pairs of distinct roles.
std::vector<RoleDistance> role_distances(const Graph& g, const RoleAssignment& r);

}  // namespace pbit
