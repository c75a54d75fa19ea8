// Where an installed pbit keeps its data (the platform file, a copy of the datasets): found from the
// library's own place, so that an install under any prefix finds its own copy.
#pragma once
#include <string>

namespace pbit::detail {

/// PREFIX/share/pbit of the libpbit this code runs in: the library's folder (dladdr) joined with the
/// install's path from its lib folder to its data folder (as configured, "../share" by default).
/// "" where that folder does not exist (a build tree) or the library cannot be located.
std::string installed_data_dir();

}  // namespace pbit::detail
