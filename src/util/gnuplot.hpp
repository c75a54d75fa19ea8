// Plots drawn by gnuplot (Debian's gnuplot-nox), when it is installed: each plot is a data file and a
// script (NAME.gp, which sets `output 'NAME.png'`) written by the caller, so a person can redraw it.
#pragma once
#include <string>

namespace pbit::detail {

bool have_gnuplot();

/// Runs DIR/NAME.gp with gnuplot. The PNG is drawn to a temporary name and renamed into place only when
/// gnuplot succeeded and the file is not empty, so a failed plot never replaces a good one. Returns
/// whether DIR/NAME.png was drawn; when gnuplot is missing or fails, says so on stderr (gnuplot's own
/// messages go to DIR/gnuplot.log).
bool draw_gnuplot(const std::string& dir, const std::string& name);

}  // namespace pbit::detail
