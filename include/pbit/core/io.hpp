// Graph files and sampling configs.
//
// Graph JSON:  {"format": "pbit.graph", "version": 1, "num_nodes": N,
//               "edges": [[i, j, J], ...], "biases": [h_0, ..., h_{N-1}],   (optional, default 0)
//               "coloring": [c_0, ..., c_{N-1}]}                            (optional; verified)
// Edge list:   plain text, one item per line, '#' starts a comment:
//               nodes N            (optional; default: largest index + 1)
//               i j J              (a coupling)
//               bias i h           (optional)
#pragma once
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pbit/core/coloring.hpp"
#include "pbit/core/graph.hpp"

namespace pbit {

/// A graph with an optional user-supplied coloring, as read from a file.
struct GraphFile {
  Graph graph;
  std::optional<std::vector<int32_t>> coloring;
};

/// A coloring given is checked against the graph first (InvalidColoring), as the reader checks it.
nlohmann::json graph_to_json(const Graph& g, const std::vector<int32_t>* coloring = nullptr);
/// `source` names the input in error messages.
GraphFile graph_from_json(const nlohmann::json& j, const std::string& source = "graph JSON");

/// IoError where the stream is not writable or the writing fails (flushed before it returns).
void write_edge_list(std::ostream& os, const Graph& g);
/// IoError where the stream is not readable at the start (a file that did not open: it read as an
/// empty graph); InvalidGraph for what it holds.
GraphFile read_edge_list(std::istream& is, const std::string& source = "edge list");

/// Reads .json as graph JSON and anything else as an edge list. Throws IoError / InvalidGraph.
GraphFile read_graph_file(const std::string& path);
/// Whether a graph file's path names graph JSON: it ends in ".json", in any case (G.JSON too); any
/// other name is an edge list. The readers and writers of graph and topology files all ask here.
bool is_json_path(const std::string& path);
/// Writes .json as graph JSON and anything else as an edge list, which holds no coloring: a coloring
/// given with an edge-list path is InvalidArgument, not dropped.
void write_graph_file(const std::string& path, const Graph& g, const std::vector<int32_t>* coloring = nullptr);

/// Reads a whole JSON file; throws IoError (missing/unreadable) or InvalidConfig (parse error, a key
/// given twice in one object, arrays and objects nested deeper than 64 levels).
nlohmann::json read_json_file(const std::string& path);

/// JSON text given on a command line or in a string, read as read_json_file reads a file: a key given
/// twice in one object, nesting past 64 levels and text that is not JSON are InvalidConfig naming
/// `source` (e.g. "--tempering").
nlohmann::json parse_json_text(const std::string& text, const std::string& source);
/// Writes json_text(j), atomically.
void write_json_file(const std::string& path, const nlohmann::json& j);
/// JSON as pbit writes it, to files and to stdout: objects and arrays of them indented by 2, one item
/// a line, but an array of numbers, strings, booleans or nulls kept on its line (wrapped at 100
/// columns), so that an edge [i, j, J], a confusion matrix or a curve reads as text rather than one
/// number a line. Ends with a line break. nlohmann::json::exception for invalid UTF-8.
std::string json_text(const nlohmann::json& j);

/// Creates directory `dir` and its parents where missing (nothing for ""); throws IoError naming it
/// and the reason when that fails (a file in the way, no permission, a read-only file system).
void make_directories(const std::string& dir);

/// Before a long run: throws IoError naming `path` when no file can be created there (a missing
/// folder, no permission, a read-only file system), so the run fails at once rather than at its end.
/// Leaves nothing behind.
void check_writable(const std::string& path);

}  // namespace pbit
