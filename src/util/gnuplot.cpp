#include "util/gnuplot.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "util/file_io.hpp"
#include "util/text.hpp"

namespace pbit::detail {

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

namespace {
/// "; the NAME.png there is an earlier run's" where one is (kept, as a failed write keeps the earlier
/// file, but not to be read as this run's: helper-114), else "".
std::string earlier_png(const std::string& dir, const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(dir + "/" + p + ".png", ec) ? "; the " + printable(p) + ".png there is an earlier run's" : "";
}
}  // namespace

bool draw_gnuplot(const std::string& dir, const std::string& p) {
  if (!have_gnuplot()) {
    std::cerr << "gnuplot is not installed: " << printable(dir + "/" + p) << ".gp and its data are written, not " << printable(p) << ".png"
              << earlier_png(dir, p) << "\n";
    return false;
  }
  std::string quoted_dir = "'";  // for the shell: a quote in the path closes, escapes and reopens
  for (char c : dir) quoted_dir += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted_dir += "'";
  // The temporaries are named as an atomic write's are (temporary_path), so that two runs drawing
  // into one folder at once do not take each other's, and a killed run's are removed by the next run
  // on the folder as a killed write's are (cli/main.cpp, stale_temporary).
  const std::string png_tmp = temporary_path(p + ".png"), log_tmp = temporary_path(p + ".gnuplot.log");
  const std::string cmd = "cd -- " + quoted_dir + " && sed \"s/set output '" + p + ".png'/set output '" + png_tmp + "'/\" " + p +
                          ".gp | gnuplot 2>" + log_tmp;
  std::error_code ec;
  const std::string tmp = dir + "/" + png_tmp, messages = dir + "/" + log_tmp;
  bool drawn = false;
  if (std::system(cmd.c_str()) == 0 && std::filesystem::file_size(tmp, ec) > 0 && !ec) {
    std::filesystem::rename(tmp, dir + "/" + p + ".png", ec);
    drawn = !ec;
  }
  std::filesystem::remove(tmp, ec);
  // gnuplot's messages go to gnuplot.log, but not its note that a curve of one point has an empty
  // range (a one-epoch run's: the plot is drawn, widened), which read as a failure; no log when
  // there is nothing to say.
  bool logged = false;
  {
    std::ifstream in(messages);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.rfind("Warning: empty ", 0) == 0 && line.find(" range [") != std::string::npos) continue;
      kept += line + "\n";
    }
    if (!kept.empty()) logged = static_cast<bool>(std::ofstream(dir + "/gnuplot.log", std::ios::app) << kept);
  }
  std::filesystem::remove(messages, ec);
  if (!drawn) {
    std::cerr << "could not draw " << printable(dir + "/" + p) << ".png ("
              << (logged ? "gnuplot failed; see " + printable(dir) + "/gnuplot.log" : std::string("gnuplot failed and said nothing"))
              << "); its data and script are written" << earlier_png(dir, p) << "\n";
  }
  return drawn;
}

std::string gnuplot_quote(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '\'') {
      r += "''";
    } else if (is_control_byte(c)) {  // a line break would end the string and the command: the rest,
      r += hex_byte(c);                // "!cmd" say, would be gnuplot's next line (helper-79)
    } else {
      r += c;
    }
  }
  return "'" + r + "'";
}

std::string gnuplot_number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

bool write_plot(const std::string& dir, const std::string& name, const std::string& data, const std::string& commands,
                const std::string& size) {
  write_file_atomically(dir + "/" + name + ".dat", data);
  write_file_atomically(dir + "/" + name + ".gp", "# gnuplot " + name + ".gp  (data: " + name + ".dat)\nset terminal pngcairo size " + size +
                                                     "\nset output '" + name + ".png'\n" + commands);
  // Data of comments only (a run stopped before its first epoch or evaluation ended): gnuplot would
  // fail on the empty range, which read as a failure to draw.
  std::istringstream lines(data);
  bool rows = false;
  for (std::string line; !rows && std::getline(lines, line);) {
    const size_t first = line.find_first_not_of(" \t\r");
    rows = first != std::string::npos && line[first] != '#';
  }
  if (!rows) {
    std::cerr << printable(dir + "/" + name) << ".png is not drawn: " << printable(name) << ".dat has no rows yet (its script is written)\n";
    return false;
  }
  return draw_gnuplot(dir, name);
}

}  // namespace pbit::detail
