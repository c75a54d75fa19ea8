#include "pbit/hardware/roles.hpp"

#include <algorithm>
#include <numeric>
#include <queue>
#include <set>
#include <sstream>

#include "pbit/error.hpp"
#include "util/parse_number.hpp"
#include "util/text.hpp"
#include "pbit/core/io.hpp"
#include "pbit/core/rng.hpp"
#include "util/memory.hpp"

namespace pbit {

int32_t RoleAssignment::index(const std::string& name) const {
  for (size_t k = 0; k < names.size(); ++k) {
    if (names[k] == name) return static_cast<int32_t>(k);
  }
  throw InvalidArgument("no role named '" + name + "'");
}

namespace {

/// Every role has a name, and no two the same one (of(name) finds one role by its name).
void check_role_names(const std::vector<std::string>& names) {
  for (size_t r = 0; r < names.size(); ++r) {
    if (names[r].empty()) throw InvalidArgument("role " + std::to_string(r) + " has no name");
    // (a name is printed in messages and summaries: a NUL would cut it there, a newline split it)
    if (const auto c = std::find_if(names[r].begin(), names[r].end(), detail::is_control_byte); c != names[r].end()) {
      throw InvalidArgument("role " + std::to_string(r) + "'s name has a control character (" + detail::hex_byte(*c) + " at byte " +
                            std::to_string(c - names[r].begin()) + ")");
    }
    const auto earlier = names.begin() + static_cast<std::ptrdiff_t>(r);
    if (std::find(names.begin(), earlier, names[r]) != earlier) throw InvalidArgument("role '" + names[r] + "' is listed twice");
  }
}

}  // namespace

void RoleAssignment::validate(int32_t num_nodes) const {
  if (names.size() != nodes.size()) throw InvalidArgument("roles: names and node lists differ in length");
  check_role_names(names);
  // Counted before anything of num_nodes' size is allocated: a file that lists a few nodes for a
  // graph of 2^31 is refused at once, not after gigabytes.
  size_t listed = 0;
  for (const auto& n : nodes) listed += n.size();
  if (num_nodes > 0 && listed < static_cast<size_t>(num_nodes)) {
    // (at least: a node listed twice leaves one more without a role)
    throw InvalidArgument("the roles list " + std::to_string(listed) + " node ids for " + std::to_string(num_nodes) + " nodes: at least " +
                          std::to_string(static_cast<size_t>(num_nodes) - listed) + " have no role; roles must partition the nodes");
  }
  std::vector<int32_t> owner(static_cast<size_t>(num_nodes), -1);
  for (size_t r = 0; r < nodes.size(); ++r) {
    for (int32_t i : nodes[r]) {
      if (i < 0 || i >= num_nodes) {
        throw InvalidArgument("role '" + names[r] + "': node " + std::to_string(i) + " out of range [0, " +
                              std::to_string(num_nodes) + ")");
      }
      if (owner[i] >= 0) {
        throw InvalidArgument(static_cast<size_t>(owner[i]) == r
                                  ? "role '" + names[r] + "' lists node " + std::to_string(i) + " twice"
                                  : "node " + std::to_string(i) + " is in both role '" + names[owner[i]] + "' and role '" + names[r] + "'");
      }
      owner[i] = static_cast<int32_t>(r);
    }
  }
  for (int32_t i = 0; i < num_nodes; ++i) {
    if (owner[i] < 0) throw InvalidArgument("node " + std::to_string(i) + " has no role; roles must partition the nodes");
  }
}

namespace {

RoleAssignment place_in(const std::vector<int32_t>& order, const std::vector<RoleSpec>& roles,
                        const std::vector<int32_t>* colors) {
  const int32_t n = static_cast<int32_t>(order.size());
  if (roles.empty()) throw InvalidArgument("no roles given");
  if (colors) {  // one color per node (a coloring of another graph would be read past its end)
    if (static_cast<int64_t>(colors->size()) != n) {
      throw InvalidArgument("colors has " + std::to_string(colors->size()) + " entries for " + std::to_string(n) + " nodes");
    }
    for (size_t i = 0; i < colors->size(); ++i) {
      if ((*colors)[i] < 0) throw InvalidArgument("colors[" + std::to_string(i) + "] is " + std::to_string((*colors)[i]) + "; colors are >= 0");
    }
  }
  std::vector<std::string> names;
  for (const RoleSpec& spec : roles) names.push_back(spec.name);
  check_role_names(names);
  RoleAssignment a;
  a.role_of.assign(static_cast<size_t>(n), -1);
  for (size_t r = 0; r < roles.size(); ++r) {
    const RoleSpec& spec = roles[r];
    if (spec.count < -1) throw InvalidArgument("role '" + spec.name + "': count must be >= 0 or -1 (rest)");
    if (spec.color >= 0 && !colors) throw InvalidArgument("role '" + spec.name + "' asks for a color but no coloring was given");
    // (a role of count 0 takes no node, of whatever color)
    if (spec.color >= 0 && spec.count != 0 && std::find(colors->begin(), colors->end(), spec.color) == colors->end()) {
      const std::set<int32_t> present(colors->begin(), colors->end());
      std::string has;
      if (present.empty()) {
        has = "none";
      } else if (*present.rbegin() + 1 == static_cast<int32_t>(present.size())) {  // 0..k-1, no gap
        has = std::to_string(present.size()) + ": 0.." + std::to_string(*present.rbegin());
      } else {
        std::vector<std::string> names;
        for (int32_t c : present) names.push_back(std::to_string(c));
        has = detail::join_at_most(names, 12);
      }
      throw InvalidArgument("role '" + spec.name + "' asks for color " + std::to_string(spec.color) + ", but the coloring has no color " +
                            std::to_string(spec.color) + " (it has " + has + ")");
    }
    a.names.push_back(spec.name);
    a.nodes.emplace_back();
    for (int32_t i : order) {
      if (spec.count >= 0 && static_cast<int32_t>(a.nodes.back().size()) == spec.count) break;
      if (a.role_of[i] >= 0 || (spec.color >= 0 && (*colors)[i] != spec.color)) continue;
      a.role_of[i] = static_cast<int32_t>(r);
      a.nodes.back().push_back(i);
    }
    if (spec.count < 0 && a.nodes.back().empty()) {
      throw InvalidArgument("role '" + spec.name + "' is 'rest' but no node" + (spec.color >= 0 ? " of color " + std::to_string(spec.color) : std::string()) +
                            " is left for it");
    }
    if (spec.count >= 0 && static_cast<int32_t>(a.nodes.back().size()) < spec.count) {
      throw InvalidArgument("role '" + spec.name + "' needs " + std::to_string(spec.count) + " nodes" +
                            (spec.color >= 0 ? " of color " + std::to_string(spec.color) : std::string()) + " but only " +
                            std::to_string(a.nodes.back().size()) + " are left");
    }
  }
  const auto unassigned = std::count(a.role_of.begin(), a.role_of.end(), -1);
  if (unassigned > 0) {
    // What would take them: a last role of count 'rest' on every color (a 'rest' on one color takes
    // only that color's nodes).
    const RoleSpec& last = roles.back();
    std::string hint = "give the last role the count 'rest' (e.g. hidden:rest)";
    if (last.count < 0 && last.color >= 0) {
      hint = "the last role '" + last.name + "' is 'rest' of color " + std::to_string(last.color) + " only, and the nodes left have other " +
             "colors: give it no color (" + last.name + ":rest) or add a role for them";
    }
    throw InvalidArgument("roles leave " + std::to_string(unassigned) + " of " + std::to_string(n) + " nodes without a role; " + hint);
  }
  return a;
}

/// The order, role_of and the role lists (4 bytes a node each), checked before they are allocated
/// (place_roles(2^31 - 1, ...) asked for gigabytes).
void check_role_memory(int32_t num_nodes) {
  if (num_nodes < 0) throw InvalidArgument("roles: negative node count " + std::to_string(num_nodes));
  detail::check_memory(12.0 * num_nodes, "placing roles on " + std::to_string(num_nodes) + " nodes");
}

}  // namespace

RoleAssignment place_roles(int32_t num_nodes, const std::vector<RoleSpec>& roles, uint64_t seed,
                           const std::vector<int32_t>* colors) {
  check_role_memory(num_nodes);
  std::vector<int32_t> perm(static_cast<size_t>(num_nodes));
  std::iota(perm.begin(), perm.end(), 0);
  rng::PhiloxStream rs(seed, rng::kRolePlacement);
  rs.shuffle(perm);
  return place_in(perm, roles, colors);
}

RoleAssignment place_roles_in_order(int32_t num_nodes, const std::vector<RoleSpec>& roles,
                                    const std::vector<int32_t>* colors) {
  check_role_memory(num_nodes);
  std::vector<int32_t> order(static_cast<size_t>(num_nodes));
  std::iota(order.begin(), order.end(), 0);
  return place_in(order, roles, colors);
}

std::vector<RoleSpec> parse_role_specs(const std::string& text) {
  std::vector<RoleSpec> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    std::vector<std::string> f;
    std::stringstream is(item);
    // Spaces around a field are not part of it ("visible:2, hidden:rest" names 'hidden', not ' hidden').
    for (std::string x; std::getline(is, x, ':');) {
      const auto b = x.find_first_not_of(" \t"), e = x.find_last_not_of(" \t");
      f.push_back(b == std::string::npos ? std::string() : x.substr(b, e - b + 1));
    }
    if (f.size() < 2 || f.size() > 3 || f[0].empty()) {
      throw InvalidArgument("role spec '" + item + "' must be name:count[:color] (count may be 'rest')");
    }
    RoleSpec r;
    r.name = f[0];
    auto num = [&](const std::string& s, const char* what) {
      int v = -1;
      if (!detail::parse_number_ok(s, v) || v < 0) {
        throw InvalidArgument("role spec '" + item + "': " + what + " must be a non-negative integer");
      }
      return v;
    };
    r.count = f[1] == "rest" ? -1 : num(f[1], "count");
    if (f.size() == 3) r.color = num(f[2], "color");
    out.push_back(r);
  }
  if (out.empty()) throw InvalidArgument("empty role spec");
  return out;
}

nlohmann::json roles_to_json(const RoleAssignment& r) {
  nlohmann::json roles = nlohmann::json::array();
  for (size_t k = 0; k < r.names.size(); ++k) roles.push_back({{"name", r.names[k]}, {"nodes", r.nodes[k]}});
  return {{"format", "pbit.roles"}, {"version", 1}, {"num_nodes", r.role_of.size()}, {"roles", roles}};
}

RoleAssignment roles_from_json(const nlohmann::json& j, int32_t num_nodes, const std::string& source) {
  auto bad = [&](const std::string& why) { return InvalidArgument(source + ": " + why); };
  if (!j.is_object() || !j.contains("roles") || !j["roles"].is_array()) throw bad("expected an object with a 'roles' array");
  // What roles_to_json writes, and nothing else: a file of another format or version, or a key this
  // reader would ignore, is refused rather than read as if it were this one.
  for (const auto& [key, value] : j.items()) {
    if (key != "format" && key != "version" && key != "num_nodes" && key != "roles") {
      throw bad("unknown key '" + key + "' (a roles file has format, version, num_nodes and roles)");
    }
  }
  if (j.contains("format") && j["format"] != "pbit.roles") throw bad("format " + j["format"].dump() + " is not \"pbit.roles\"");
  if (j.contains("version") && j["version"] != 1) throw bad("version " + j["version"].dump() + " is not one this pbit reads (1)");
  if (j.contains("num_nodes") && j["num_nodes"] != num_nodes) {
    throw bad("written for " + j["num_nodes"].dump() + " nodes, but the graph has " + std::to_string(num_nodes));
  }
  RoleAssignment a;
  for (size_t k = 0; k < j["roles"].size(); ++k) {
    const auto& r = j["roles"][k];
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string() || !r.contains("nodes") || !r["nodes"].is_array() || r.size() != 2) {
      throw bad("roles[" + std::to_string(k) + "] must be {\"name\": string, \"nodes\": [...]}");
    }
    a.names.push_back(r["name"].get<std::string>());
    a.nodes.emplace_back();
    for (const auto& v : r["nodes"]) {
      if (!v.is_number_integer()) throw bad("role '" + a.names.back() + "': node ids must be integers");
      // Range-checked before the cast: 4294967298 must not become node 2.
      const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() < static_cast<uint64_t>(num_nodes)
                                                   : v.get<int64_t>() >= 0 && v.get<int64_t>() < num_nodes;
      if (!in_range) {
        throw bad("role '" + a.names.back() + "': node " + v.dump() + " out of range [0, " + std::to_string(num_nodes) + ")");
      }
      a.nodes.back().push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
  }
  try {
    a.validate(num_nodes);
  } catch (const InvalidArgument& e) {
    throw bad(e.reason());
  }
  a.role_of.assign(static_cast<size_t>(num_nodes), -1);  // (validate counted the nodes first: no huge allocation for a short file)
  for (size_t k = 0; k < a.nodes.size(); ++k)
    for (int32_t i : a.nodes[k]) a.role_of[i] = static_cast<int32_t>(k);
  return a;
}

RoleAssignment read_roles_file(const std::string& path, int32_t num_nodes) {
  return roles_from_json(read_json_file(path), num_nodes, path);
}

void write_roles_file(const std::string& path, const RoleAssignment& r) { write_json_file(path, roles_to_json(r)); }

std::vector<RoleDistance> role_distances(const Graph& g, const RoleAssignment& r) {
  const int32_t n = g.num_nodes();
  if (r.role_of.size() != static_cast<size_t>(n)) {
    throw InvalidArgument("role_distances: the roles place " + std::to_string(r.role_of.size()) + " nodes, the graph has " + std::to_string(n));
  }
  std::vector<RoleDistance> out;
  for (size_t to = 0; to < r.names.size(); ++to) {
    // Multi-source BFS from every node of role `to`.
    std::vector<int32_t> dist(static_cast<size_t>(n), -1);
    std::queue<int32_t> q;
    for (int32_t i : r.nodes[to]) {
      dist[i] = 0;
      q.push(i);
    }
    while (!q.empty()) {
      const int32_t i = q.front();
      q.pop();
      for (int64_t k = g.row_ptr()[i]; k < g.row_ptr()[i + 1]; ++k) {
        const int32_t j = g.col_idx()[k];
        if (dist[j] < 0) {
          dist[j] = dist[i] + 1;
          q.push(j);
        }
      }
    }
    for (size_t from = 0; from < r.names.size(); ++from) {
      if (from == to) continue;
      RoleDistance d{r.names[from], r.names[to]};
      int64_t reached = 0, total = 0;
      for (int32_t i : r.nodes[from]) {
        if (dist[i] < 0) {
          ++d.unreachable;
          continue;
        }
        ++reached;
        total += dist[i];
        d.max_hops = std::max(d.max_hops, dist[i]);
      }
      d.mean_hops = reached ? static_cast<double>(total) / reached : 0.0;
      out.push_back(d);
    }
  }
  return out;
}

}  // namespace pbit
