#include "pbit/core/io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "pbit/core/coloring.hpp"
#include "pbit/error.hpp"
#include "core/graph_json.hpp"
#include "util/file_io.hpp"
#include "util/json_util.hpp"
#include "util/memory.hpp"
#include "util/parse_number.hpp"
#include "util/text.hpp"

namespace pbit {

namespace {

/// Graph JSON without its edges (graph_to_json's document less "edges").
nlohmann::json graph_head(const Graph& g, const std::vector<int32_t>* coloring) {
  // The reader refuses a coloring of the wrong size or an improper one: so does the writer, rather
  // than write a file that cannot be read back.
  if (coloring) verify_coloring(g, *coloring);
  nlohmann::json j;
  j["format"] = "pbit.graph";
  j["version"] = 1;
  j["num_nodes"] = g.num_nodes();
  j["biases"] = g.biases();
  if (coloring) j["coloring"] = *coloring;
  return j;
}

nlohmann::json edge_json(const Edge& e) { return nlohmann::json::array({e.i, e.j, e.weight}); }

}  // namespace

nlohmann::json graph_to_json(const Graph& g, const std::vector<int32_t>* coloring) {
  nlohmann::json j = graph_head(g, coloring);
  nlohmann::json edges = nlohmann::json::array();
  for (const Edge& e : g.edges()) edges.push_back(edge_json(e));
  j["edges"] = std::move(edges);
  return j;
}

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) { throw InvalidGraph(source + ": " + what); }

/// An error of the graph's own checks (its message after `prefix`), prefixed with the file it came from.
std::string with_source(const std::string& source, const Error& e, const std::string& prefix) {
  const std::string what = e.what();
  return source + ": " + (what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what);
}

int32_t as_index(const nlohmann::json& v, const std::string& source, const std::string& where) {
  if (!v.is_number_integer()) bad(source, where + " must be an integer, got " + v.dump());
  // An unsigned value above INT64_MAX would wrap to a negative one through get<int64_t>.
  const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  if (too_big || v.get<int64_t>() < std::numeric_limits<int32_t>::min() || v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
    bad(source, where + " = " + v.dump() + " does not fit a node index");
  }
  return static_cast<int32_t>(v.get<int64_t>());
}

float as_weight(const nlohmann::json& v, const std::string& source, const std::string& where) {
  // JSON cannot hold NaN/Inf, but a null (how some writers emit NaN) must not become 0.
  if (!v.is_number()) bad(source, where + " must be a number, got " + v.dump());
  // Read as a double and held to float32's range, as the edge list's values are: a value that
  // would round to 0 or to infinity is refused, not loaded changed.
  const double d = v.get<double>();
  const auto f = static_cast<float>(d);
  if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max()) || (d != 0 && f == 0)) {
    bad(source, where + " = " + v.dump() + " does not fit a float32 (too large, or too close to 0)");
  }
  return f;
}

/// Element k of a graph file's edges: [i, j, J].
Edge edge_of(const nlohmann::json& e, const std::string& source, size_t k) {
  const std::string where = "edges[" + std::to_string(k) + "]";
  if (!e.is_array() || e.size() != 3) bad(source, where + " must be [i, j, J], got " + e.dump());
  return {as_index(e[0], source, where + "[0]"), as_index(e[1], source, where + "[1]"), as_weight(e[2], source, where + "[2]")};
}

}  // namespace

namespace {

/// A graph file's edges, biases and coloring, taken from the parser as it reads them (read_graph_file)
/// and dropped from the document: a document of 2 M edges held 420 MB, these arrays 24 MB.
struct GraphArrays {
  bool edges = false, biases = false, coloring = false;  ///< each key's array was read here
  std::vector<Edge> edge;
  std::vector<float> bias;
  std::vector<int32_t> color;
};

/// A pbit.graph document's checks and its graph: its arrays from `streamed` where it read them, else
/// from the document.
GraphFile graph_from_parts(const nlohmann::json& j, const std::string& source, GraphArrays* streamed) {
  if (!j.is_object()) bad(source, "top level must be an object");
  for (const auto& [k, v] : j.items()) {
    if (k != "format" && k != "version" && k != "num_nodes" && k != "edges" && k != "biases" && k != "coloring" &&
        k != "meta") {
      bad(source, "unknown key '" + k + "'");
    }
  }
  if (j.contains("format") && j["format"] != "pbit.graph") bad(source, "'format' must be \"pbit.graph\"");
  if (j.contains("version") && j["version"] != 1) bad(source, "'version' " + j["version"].dump() + " is not one this pbit reads (1)");
  if (!j.contains("num_nodes")) bad(source, "missing key 'num_nodes'");
  const int32_t n = as_index(j["num_nodes"], source, "'num_nodes'");
  if (!j.contains("edges") || !j["edges"].is_array()) bad(source, "missing or non-array key 'edges'");
  GraphArrays own;
  GraphArrays& a = streamed ? *streamed : own;
  if (!a.edges) {
    a.edge.reserve(j["edges"].size());
    for (size_t k = 0; k < j["edges"].size(); ++k) a.edge.push_back(edge_of(j["edges"][k], source, k));
  }
  if (j.contains("biases")) {
    if (!j["biases"].is_array()) bad(source, "'biases' must be an array");
    if (!a.biases) {
      for (size_t i = 0; i < j["biases"].size(); ++i) a.bias.push_back(as_weight(j["biases"][i], source, "biases[" + std::to_string(i) + "]"));
    }
    // Present, it holds every node's bias: an empty list loaded as all zeros for any graph (a
    // truncated export as another model: helper-117). Leaving the key out says zeros.
    if (a.bias.size() != static_cast<size_t>(n)) {
      bad(source, "'biases' holds " + std::to_string(a.bias.size()) + " values for " + std::to_string(n) +
                      " nodes (one per node; leave the key out for zero biases)");
    }
  }
  std::vector<float> h = std::move(a.bias);
  if (j.contains("coloring")) {
    if (!j["coloring"].is_array()) bad(source, "'coloring' must be an array");
    if (!a.coloring) {
      for (size_t i = 0; i < j["coloring"].size(); ++i) a.color.push_back(as_index(j["coloring"][i], source, "coloring[" + std::to_string(i) + "]"));
    }
  }
  std::vector<Edge> edges = std::move(a.edge);
  std::vector<int32_t> c = std::move(a.color);
  GraphFile out;
  try {  // the graph's own checks, named by the file as the edge list's are
    out.graph = Graph::from_edges(n, edges, std::move(h));
  } catch (const InvalidGraph& e) {
    throw InvalidGraph(with_source(source, e, "invalid graph: "));
  }
  if (j.contains("coloring")) {
    try {
      verify_coloring(out.graph, c);
    } catch (const InvalidColoring& e) {
      throw InvalidColoring(with_source(source, e, "invalid coloring: "));
    }
    out.coloring = std::move(c);
  }
  return out;
}

}  // namespace

GraphFile graph_from_json(const nlohmann::json& j, const std::string& source) { return graph_from_parts(j, source, nullptr); }

void write_edge_list(std::ostream& os, const Graph& g) {
  if (!os) throw IoError("write_edge_list: the stream is not writable (a file that did not open?)");
  os << "# pbit edge list: 'i j J' per coupling, 'bias i h' per nonzero bias\n";
  os << "nodes " << g.num_nodes() << "\n";
  os.precision(std::numeric_limits<float>::max_digits10);
  for (const Edge& e : g.edges()) os << e.i << " " << e.j << " " << e.weight << "\n";
  for (int32_t i = 0; i < g.num_nodes(); ++i) {
    if (g.biases()[i] != 0.0f) os << "bias " << i << " " << g.biases()[i] << "\n";
  }
  os.flush();
  if (!os) throw IoError("write_edge_list: writing the edge list failed (disk full?)");
}

namespace {

/// A line or token of a file for an error message: control and non-ASCII bytes as \xNN (a NUL, a
/// terminal escape or a byte-order mark stays visible), and at most 80 characters.
std::string shown(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    if (out.size() >= 80) return out + "...";
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

/// std::getline with a bound, so that a file without line breaks (/dev/zero, a binary) is refused
/// instead of read whole into one string: false at the end of the input.
bool get_bounded_line(std::istream& is, std::string& line, const std::string& where) {
  constexpr size_t kMaxLine = 65536;
  line.clear();
  std::streambuf* sb = is.rdbuf();
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      is.setstate(std::ios::eofbit);
      return !line.empty();
    }
    if (c == '\n') return true;
    if (line.size() >= kMaxLine) {
      throw InvalidGraph(where + ": a line longer than " + std::to_string(kMaxLine) + " characters (is this a text edge list?)");
    }
    line.push_back(static_cast<char>(c));
  }
}

}  // namespace

GraphFile read_edge_list(std::istream& is, const std::string& source) {
  // A stream that failed to open reads as an empty file (a graph of no nodes) without this.
  if (!is) throw IoError(source + ": cannot read it (the stream is not readable: a file that did not open?)");
  std::vector<Edge> edges;
  std::vector<std::pair<int64_t, float>> biases;
  int64_t n = -1, max_index = -1, nodes_line = 0;
  std::string line;
  for (int64_t lineno = 1; get_bounded_line(is, line, source + ":" + std::to_string(lineno)); ++lineno) {
    if (lineno == 1) {  // a file that is plainly something else is named, not read as a bad edge (helper-117)
      if (line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // a UTF-8 byte-order mark, as the JSON reader skips it
      if (const std::string kind = detail::pbit_file_kind(line.data(), line.size()); !kind.empty()) {
        throw InvalidGraph(source + ": not an edge list: it is " + kind);
      }
      if (const auto at = line.find_first_not_of(" \t\r"); at != std::string::npos && line[at] == '{') {
        throw InvalidGraph(source + ": not an edge list: it begins as JSON does ('{'); a JSON graph file's name ends in .json");
      }
    }
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string first;
    if (!(ls >> first)) continue;
    const std::string where = source + ":" + std::to_string(lineno);
    auto parse_int = [&](const std::string& tok) -> int64_t {
      int64_t v = 0;
      const detail::ParseStatus st = detail::parse_number(tok, v);
      if (st == detail::ParseStatus::malformed) throw InvalidGraph(where + ": expected an integer node index, got '" + shown(tok) + "'");
      // At most 2^31 - 2: the node count, one more than the largest index, must fit an int32.
      if (st == detail::ParseStatus::out_of_range || v < 0 || v >= std::numeric_limits<int32_t>::max()) {
        throw InvalidGraph(where + ": node index " + shown(tok) + " out of range [0, 2^31 - 1)");
      }
      return v;
    };
    auto parse_float = [&](const std::string& tok) -> float {
      float v = 0;
      const detail::ParseStatus st = detail::parse_number(tok, v);
      if (st == detail::ParseStatus::out_of_range) throw InvalidGraph(where + ": value '" + shown(tok) + "' does not fit a float32 (too large, or too close to 0)");
      if (st == detail::ParseStatus::malformed) throw InvalidGraph(where + ": expected a number, got '" + shown(tok) + "'");
      if (!std::isfinite(v)) throw InvalidGraph(where + ": non-finite value '" + shown(tok) + "'");
      return v;
    };
    std::string a, b, extra;
    if (first == "nodes") {
      if (!(ls >> a) || (ls >> extra)) throw InvalidGraph(where + ": expected 'nodes N'");
      int64_t count = 0;
      if (detail::parse_number(a, count) != detail::ParseStatus::ok || count < 0 || count > std::numeric_limits<int32_t>::max()) {
        throw InvalidGraph(where + ": 'nodes' takes a count in [0, 2^31), got '" + shown(a) + "'");
      }
      if (n >= 0 && count != n) {
        throw InvalidGraph(where + ": 'nodes " + std::to_string(count) + "' after 'nodes " + std::to_string(n) + "' on line " +
                           std::to_string(nodes_line));
      }
      n = count;
      nodes_line = lineno;
    } else if (first == "bias") {
      if (!(ls >> a >> b) || (ls >> extra)) throw InvalidGraph(where + ": expected 'bias i h'");
      const int64_t i = parse_int(a);
      biases.push_back({i, parse_float(b)});
      max_index = std::max(max_index, i);
    } else {
      if (!(ls >> a >> b) || (ls >> extra)) throw InvalidGraph(where + ": expected 'i j J', got '" + shown(line) + "'");
      const int64_t i = parse_int(first), jn = parse_int(a);
      if (i == jn) throw InvalidGraph(where + ": edge (" + std::to_string(i) + ", " + std::to_string(jn) + ") is a self loop");
      edges.push_back({static_cast<int32_t>(i), static_cast<int32_t>(jn), parse_float(b)});
      max_index = std::max({max_index, i, jn});
    }
  }
  // An empty file (or comments alone: a failed export, the wrong file) is no graph of no nodes.
  if (n < 0 && max_index < 0) {
    throw InvalidGraph(source + ": no edges, biases or 'nodes' line (an empty file?); a graph of no nodes says 'nodes 0'");
  }
  if (n < 0) n = max_index + 1;
  if (max_index >= n) {
    throw InvalidGraph(source + ": node index " + std::to_string(max_index) + " out of range [0, " + std::to_string(n) +
                       ") declared by 'nodes'");
  }
  detail::check_memory(graph_bytes(n, static_cast<int64_t>(edges.size())) + 24.0 * static_cast<double>(edges.size()),  // + the edges read
                       source + ": a graph of " + std::to_string(n) + " nodes and " + std::to_string(edges.size()) + " edges");
  std::vector<float> h(static_cast<size_t>(n), 0.0f);
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (const auto& [i, v] : biases) {
    if (seen[i] && h[i] != v) {  // as conflicting duplicate edges are
      std::ostringstream os;
      os.precision(std::numeric_limits<float>::max_digits10);
      os << source << ": conflicting biases for node " << i << " (" << h[i] << " and " << v << ")";
      throw InvalidGraph(os.str());
    }
    h[i] = v;
    seen[i] = 1;
  }
  try {
    return GraphFile{Graph::from_edges(static_cast<int32_t>(n), edges, std::move(h)), std::nullopt};
  } catch (const InvalidGraph& e) {
    throw InvalidGraph(with_source(source, e, "invalid graph: "));
  }
}

namespace {
constexpr int kMaxJsonDepth = 64;

/// The parser callback of pbit's JSON readers: a key given twice in one object is an error (the JSON
/// library keeps the last silently, and a config's typo must never fall back to anything), left in
/// `twice` for the caller; nesting is capped (no file of pbit's goes past a few levels, and a deep one,
/// in a free-form '_comment' say, is written back indented into results files, quadratic in its
/// depth). `keys` and `twice` outlive the parse (the library copies the callback).
auto key_watch(const std::string& source, std::vector<std::set<std::string>>& keys, std::string& twice) {
  return [&source, &keys, &twice](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth >= kMaxJsonDepth && (ev == E::object_start || ev == E::array_start)) {
      throw InvalidConfig(source + ": nested deeper than " + std::to_string(kMaxJsonDepth) + " levels of arrays and objects");
    }
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end) {
      keys.pop_back();
    } else if (ev == E::key && !keys.empty() && twice.empty()) {
      std::string k = parsed.get<std::string>();
      if (!keys.back().insert(k).second) twice = std::move(k);
    }
    return true;
  };
}
}  // namespace

namespace {

/// parse_json_text's reading of `in` (a string or a stream); `on_syntax_error` runs first when the
/// text is no JSON, so that a caller can name what it is instead.
/// A reader's own look at each parse event after the checks' (read_graph_file takes a graph's arrays
/// from it): false drops the value from the document, as nlohmann's parser callbacks do.
using ParseHook = std::function<bool(int, nlohmann::json::parse_event_t, nlohmann::json&)>;

template <class Input>
nlohmann::json parse_checked(Input&& in, const std::string& source, const std::function<void()>& on_syntax_error = {},
                             const ParseHook& hook = {}) {
  std::vector<std::set<std::string>> keys;
  std::string twice;
  nlohmann::json j;
  auto watch = key_watch(source, keys, twice);
  try {
    j = nlohmann::json::parse(std::forward<Input>(in), [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
      return watch(depth, ev, parsed) && (!hook || hook(depth, ev, parsed));
    });
  } catch (const nlohmann::json::parse_error& e) {
    if (on_syntax_error) on_syntax_error();
    throw InvalidConfig(source + ": not valid JSON: " + detail::json_what(e));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number out of range (1e400)
    throw InvalidConfig(source + ": " + detail::json_what(e));
  }
  if (!twice.empty()) throw InvalidConfig(source + ": the key '" + twice + "' appears twice in one object");
  return j;
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& source) { return parse_checked(text, source); }

namespace {

nlohmann::json read_json_file_hooked(const std::string& path, const ParseHook& hook) {
  detail::refuse_folder(path);
  std::ifstream f(path);
  if (!f) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot open '" + path + "' for reading", path);
  }
  // A binary file (a checkpoint.bin given for a model.json, say) is named as such, not by the byte
  // where JSON parsing stopped; its head is read again, so only from a regular file (a pipe reads once).
  return parse_checked(f, path, [&path] {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return;
    std::ifstream head(path, std::ios::binary);
    char buf[64] = {};
    head.read(buf, sizeof buf);
    const auto n = static_cast<size_t>(head.gcount());
    if (const std::string kind = detail::pbit_file_kind(buf, n); !kind.empty()) throw InvalidConfig(path + ": not a JSON text: it is " + kind);
    for (size_t k = 0; k < n; ++k) {  // a byte no JSON text holds (DEL may stand in a string)
      const auto c = static_cast<unsigned char>(buf[k]);
      if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
        // A text that begins as JSON holds a raw control byte (a terminal escape pasted into a string,
        // say); anything else is binary data.
        const auto start = std::string_view(buf, n).find_first_not_of(" \t\r\n");
        if (start < k && (buf[start] == '{' || buf[start] == '[')) {
          throw InvalidConfig(path + ": the byte at offset " + std::to_string(k) + " is the control character " + detail::hex_byte(buf[k]) +
                              ", which a JSON text may hold only escaped (in a string, as \\u00" + detail::hex_byte(buf[k]).substr(2) + ")");
        }
        throw InvalidConfig(path + ": binary data, not a JSON text (a .bin checkpoint where a .json file belongs?)");
      }
    }
  }, hook);
}

}  // namespace

nlohmann::json read_json_file(const std::string& path) { return read_json_file_hooked(path, {}); }

namespace {

/// The items of an array of scalars as one compact dump() writes them ("[1,\"a,b\",null]"): the
/// commas outside strings separate them. Calls f(item) for each, in order.
template <class F>
void for_each_item(const std::string& compact, F f) {
  size_t start = 1;
  bool in_string = false, escaped = false;
  for (size_t k = 1; k + 1 < compact.size(); ++k) {
    const char c = compact[k];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',') {
      f(std::string_view(compact).substr(start, k - start));
      start = k + 1;
    }
  }
  f(std::string_view(compact).substr(start, compact.size() - 1 - start));
}

/// An array put_json writes in place of the value at `at` (a placeholder in the document): `count`
/// rows, row(k) made only when it is written, each an array or an object (written as in a document
/// that held them all), so that a graph's edges need no document of their own (about 110 bytes an
/// edge beside the 20-45 of its text).
struct JsonRows {
  const nlohmann::json* at;
  int64_t count;
  std::function<nlohmann::json(int64_t)> row;
};

/// `j` at indent `depth`, starting at column `col` (after its key), followed by `tail` characters on
/// its last line (1: a comma). No line passes column 100 unless one item alone does.
void put_json(std::string& out, const nlohmann::json& j, size_t depth, size_t col, size_t tail,
              const std::vector<JsonRows>* rows = nullptr) {
  constexpr size_t kWidth = 100;
  const std::string pad(2 * depth, ' '), inner(2 * depth + 2, ' ');
  if (rows) {
    for (const JsonRows& r : *rows) {
      if (r.at != &j) continue;
      if (r.count == 0) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (int64_t k = 0; k < r.count; ++k) {
        out += inner;
        const nlohmann::json item = r.row(k);
        put_json(out, item, depth + 1, inner.size(), k + 1 == r.count ? 0 : 1);
        out += k + 1 == r.count ? "\n" : ",\n";
      }
      out += pad + "]";
      return;
    }
  }
  const bool flat = j.is_array() && std::none_of(j.begin(), j.end(), [](const nlohmann::json& x) { return x.is_structured(); });
  if (j.empty() || !j.is_structured()) {
    out += j.dump();
  } else if (flat) {  // one dump for the whole array, then on this line if it fits, else wrapped
    const std::string compact = j.dump();
    const size_t one_line = compact.size() + (j.size() - 1);  // a space after each comma
    const bool wrap = col + one_line + tail > kWidth;
    out += wrap ? "[\n" + inner : "[";
    size_t at = inner.size(), left = j.size();
    for_each_item(compact, [&, first = true](std::string_view item) mutable {
      --left;
      const size_t need = item.size() + (left > 0 ? 1 : 0);  // the item and its comma
      if (!first) {
        if (wrap && at + 2 + need > kWidth) {  // ", ", the item and its comma
          out += ",\n" + inner;
          at = inner.size();
        } else {
          out += ", ";
          at += 2;
        }
      }
      out += item;
      at += item.size();
      first = false;
    });
    out += wrap ? "\n" + pad + "]" : "]";
  } else {
    out += j.is_object() ? "{\n" : "[\n";
    size_t k = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++k) {
      out += inner;
      size_t at = inner.size();
      if (j.is_object()) {
        const std::string key = nlohmann::json(it.key()).dump() + ": ";
        out += key;
        at += key.size();
      }
      const bool last = k + 1 == j.size();
      put_json(out, it.value(), depth + 1, at, last ? 0 : 1, rows);
      out += last ? "\n" : ",\n";
    }
    out += pad + (j.is_object() ? "}" : "]");
  }
}

}  // namespace

std::string json_text(const nlohmann::json& j) {
  std::string out;
  put_json(out, j, 0, 0, 0);
  return out + "\n";
}

namespace detail {

std::string graph_json_text(const Graph& g, const std::vector<int32_t>* coloring, const nlohmann::json* meta,
                            const std::vector<std::vector<int32_t>>* coordinates) {
  nlohmann::json j = graph_head(g, coloring);
  j["edges"] = nullptr;  // placeholders for the rows
  if (meta) j["meta"] = *meta;
  if (meta && coordinates) j["meta"]["coordinates"] = nullptr;
  const std::vector<Edge> edges = g.edges();  // (made whole by each call)
  std::vector<JsonRows> rows{{&j["edges"], g.num_edges(), [&edges](int64_t e) { return edge_json(edges[static_cast<size_t>(e)]); }}};
  if (meta && coordinates) {
    rows.push_back({&j["meta"]["coordinates"], static_cast<int64_t>(coordinates->size()),
                    [coordinates](int64_t i) { return nlohmann::json((*coordinates)[static_cast<size_t>(i)]); }});
  }
  std::string out;
  put_json(out, j, 0, 0, 0, &rows);
  return out + "\n";
}

double graph_json_bytes(const Graph& g, double coordinate_values) {
  // The text, about 20-45 bytes an edge, twice over while the string grows, and g.edges(); the
  // biases' and colors' documents and text, and the coordinates' text.
  return 100.0 * static_cast<double>(g.num_edges()) + 100.0 * static_cast<double>(g.num_nodes()) + 24.0 * coordinate_values;
}

}  // namespace detail

void write_json_file(const std::string& path, const nlohmann::json& j) {
  std::string text;
  try {
    text = json_text(j);
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    throw IoError("cannot write '" + path + "': " + detail::json_what(e));
  }
  detail::write_file_atomically(path, text);
}

void check_writable(const std::string& path) {
  // The same target the writer will use (detail::resolve_output): an open descriptor or a device is
  // checked for writing as it is, a link's file in the link target's folder.
  const detail::OutputTarget out = detail::resolve_output(path);
  if (out.fd >= 0) return;
  if (out.in_place) {
    if (::access(path.c_str(), W_OK) != 0) {
      const int e = errno;  // before the message is built
      throw detail::open_failed(e, "cannot write '" + path + "'", path);
    }
    return;
  }
  const std::filesystem::path p(out.dest);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    const bool file = std::filesystem::exists(dir, ec);
    throw IoError("cannot write '" + path + "': " + (file ? "'" + dir.string() + "' is a file, not a folder" : "folder '" + dir.string() + "' does not exist"),
                  path, file ? ENOTDIR : ENOENT);
  }
  if (std::filesystem::is_directory(p, ec)) throw IoError("cannot write '" + path + "': it is a folder", path, EISDIR);
  // The probe is a new file, never opened through a link someone left at its name.
  const std::string probe = out.dest + ".pbit-write-check";
  ::unlink(probe.c_str());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot write '" + path + "': no file can be created in '" + dir.string() + "'", path);
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

void make_directories(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory '" + dir + "': " + ec.message(), dir, ec.value());
}

bool is_json_path(const std::string& path) {
  const std::string suf = ".json";
  if (path.size() < suf.size()) return false;
  for (size_t k = 0; k < suf.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(path[path.size() - suf.size() + k])) != suf[k]) return false;
  }
  return true;
}

GraphFile read_graph_file(const std::string& path) {
  if (is_json_path(path)) {
    // The edges, biases and coloring are taken as the parser reads them (the document of 2 M edges
    // held 420 MB; helper-117 found the estimate of it wrong for compact files, and it took a pass
    // of its own): the memory is checked as the edges come, at each doubling of their array, for
    // what they and the graph built from them hold.
    using E = nlohmann::json::parse_event_t;
    GraphArrays arrays;
    std::string top;        // the top-level key whose value is being read
    bool collect = false;   // and that value is the array of edges, biases or coloring
    const ParseHook hook = [&](int depth, E ev, nlohmann::json& parsed) {
      if (depth == 1) {
        if (ev == E::key) {
          top = parsed.get<std::string>();
        } else if (ev == E::array_start) {
          collect = top == "edges" || top == "biases" || top == "coloring";
          (top == "edges" ? arrays.edges : top == "biases" ? arrays.biases : arrays.coloring) |= collect;
        } else if (ev == E::array_end || ev == E::object_start) {
          collect = false;
        }
        return true;
      }
      // An element of the array is whole at its value, or at the end of its array or object.
      if (!collect || depth != 2 || !(ev == E::value || ev == E::array_end || ev == E::object_end)) return true;
      // Room for twice the elements read so far, checked before it is taken: each element's share of the
      // graph built from them (graph_bytes) and the element read, twice that while its array grows, as
      // an edge list's reading counts them.
      const auto room = [&](auto& v, double graph_bytes_each, const char* what) {
        if (v.size() < v.capacity()) return;
        const double bytes_each = graph_bytes_each + 2.0 * sizeof(v[0]);
        const double more = 2.0 * static_cast<double>(std::max<size_t>(v.size(), 4096));
        detail::check_memory(bytes_each * more, path + ": reading a JSON graph file's " + what + " past the first " +
                                                    detail::format_number(static_cast<double>(v.size())));
        v.reserve(static_cast<size_t>(more));
      };
      if (top == "edges") {
        room(arrays.edge, graph_bytes(0, 1), "edges");
        arrays.edge.push_back(edge_of(parsed, path, arrays.edge.size()));
      } else if (top == "biases") {
        room(arrays.bias, graph_bytes(1, 0), "biases");
        arrays.bias.push_back(as_weight(parsed, path, "biases[" + std::to_string(arrays.bias.size()) + "]"));
      } else {
        room(arrays.color, graph_bytes(1, 0), "coloring");
        arrays.color.push_back(as_index(parsed, path, "coloring[" + std::to_string(arrays.color.size()) + "]"));
      }
      return false;
    };
    nlohmann::json j;
    try {
      j = read_json_file_hooked(path, hook);
    } catch (const InvalidConfig& e) {
      throw InvalidGraph(e.reason());
    }
    return graph_from_parts(j, path, &arrays);
  }
  detail::refuse_folder(path);
  std::ifstream f(path);
  if (!f) {
    const int e = errno;  // before the message is built
    throw detail::open_failed(e, "cannot open graph file '" + path + "' for reading", path);
  }
  return read_edge_list(f, path);
}

void write_graph_file(const std::string& path, const Graph& g, const std::vector<int32_t>* coloring) {
  if (coloring && !is_json_path(path)) {
    throw InvalidArgument(path + ": an edge list holds no coloring; write graph JSON (a .json name) to keep it, or give none");
  }
  if (is_json_path(path)) {
    // The text, built whole before it is written.
    detail::check_memory(detail::graph_json_bytes(g, 0),
                         "the JSON text of a graph of " + std::to_string(g.num_edges()) + " edges (as an edge list, not .json, about a quarter as much)");
    detail::write_file_atomically(path, detail::graph_json_text(g, coloring, nullptr, nullptr));
    return;
  }
  detail::write_file_atomically(path, [&](std::ostream& f) { write_edge_list(f, g); });
}

}  // namespace pbit
