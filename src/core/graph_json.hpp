// Graph JSON written row by row (core/io.cpp): the text that json_text gives of graph_to_json's
// document, without that document. Its edges and coordinates, one small document each, took about
// 110 bytes an edge beside the text's 20-45, and a topology the memory guard let through died of
// std::bad_alloc building them (helper-108).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/graph.hpp"

namespace pbit::detail {

/// json_text(j) of j = graph_to_json(g, coloring), with j["meta"] = *meta where `meta` is given and
/// j["meta"]["coordinates"] = *coordinates where both are; the edges and the coordinates are made
/// one row at a time.
std::string graph_json_text(const Graph& g, const std::vector<int32_t>* coloring, const nlohmann::json* meta,
                            const std::vector<std::vector<int32_t>>* coordinates);

/// The bytes graph_json_text needs at most beside the graph, with `coordinate_values` numbers in the
/// coordinates: for detail::check_memory before it.
double graph_json_bytes(const Graph& g, double coordinate_values);

}  // namespace pbit::detail
