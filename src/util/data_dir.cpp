#include "util/data_dir.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

namespace pbit::detail {

std::string installed_data_dir() {
#ifdef PBIT_LIB_TO_DATADIR
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&installed_data_dir), &info) == 0 || info.dli_fname == nullptr) return "";
  std::error_code ec;
  const std::filesystem::path lib = std::filesystem::canonical(info.dli_fname, ec);  // through the soname links
  if (ec) return "";
  const std::filesystem::path dir = (lib.parent_path() / PBIT_LIB_TO_DATADIR / "pbit").lexically_normal();
  return std::filesystem::is_directory(dir, ec) ? dir.string() : "";
#else
  return "";
#endif
}

}  // namespace pbit::detail
