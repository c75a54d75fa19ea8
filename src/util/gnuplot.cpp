#include "util/gnuplot.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace pbit::detail {

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

bool draw_gnuplot(const std::string& dir, const std::string& p) {
  if (!have_gnuplot()) {
    std::cerr << "gnuplot is not installed: " << dir << "/" << p << ".gp and its data are written, not " << p << ".png\n";
    return false;
  }
  const std::string cmd = "cd '" + dir + "' && sed \"s/set output '" + p + ".png'/set output '" + p + ".png.tmp'/\" " + p +
                          ".gp | gnuplot 2>>gnuplot.log";
  std::error_code ec;
  const std::string tmp = dir + "/" + p + ".png.tmp";
  bool drawn = false;
  if (std::system(cmd.c_str()) == 0 && std::filesystem::file_size(tmp, ec) > 0 && !ec) {
    std::filesystem::rename(tmp, dir + "/" + p + ".png", ec);
    drawn = !ec;
  }
  std::filesystem::remove(tmp, ec);
  if (!drawn) {
    std::cerr << "could not draw " << dir << "/" << p << ".png (gnuplot failed; see " << dir << "/gnuplot.log); its data and script are written\n";
  }
  return drawn;
}

}  // namespace pbit::detail
