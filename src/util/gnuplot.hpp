// Plots drawn by gnuplot (Debian's gnuplot-nox), when it is installed: each plot is a data file and a
// script (NAME.gp, which sets `output 'NAME.png'`) written by the caller, so a person can redraw it.
#pragma once
#include <string>

namespace pbit::detail {

bool have_gnuplot();

/// Runs DIR/NAME.gp with gnuplot (DIR any path; NAME a plain file name of letters, digits and '_',
/// as every caller's is). The PNG is drawn to a temporary name and renamed into place only when
/// gnuplot succeeded and the file is not empty, so a failed plot never replaces a good one. Returns
/// whether DIR/NAME.png was drawn; when gnuplot is missing or fails, says so on stderr (gnuplot's own
/// messages go to DIR/gnuplot.log).
bool draw_gnuplot(const std::string& dir, const std::string& name);

/// A gnuplot string in single quotes (a quote inside doubled; control bytes, a line break above all,
/// written as the text \xNN: a line break would end the command, and gnuplot runs a line "!cmd" in
/// the shell). In single quotes gnuplot substitutes nothing, backquotes included.
std::string gnuplot_quote(const std::string& s);

/// A number for a gnuplot script (%.6g).
std::string gnuplot_number(double x);

/// One plot of one data file: writes DIR/NAME.dat (`data`, gnuplot's columns) and DIR/NAME.gp (a PNG
/// terminal of `size`, output NAME.png, then `commands`, which read 'NAME.dat'), each atomically, and
/// draws it (draw_gnuplot) unless `data` has no rows (comments and blank lines only: a run stopped
/// before its first point), which it says on stderr. Returns whether DIR/NAME.png was drawn.
bool write_plot(const std::string& dir, const std::string& name, const std::string& data, const std::string& commands,
                const std::string& size = "800,500");

}  // namespace pbit::detail
