#include "util/progress.hpp"

namespace pbit::detail {

std::function<void()>& interrupt_check() {
  static std::function<void()> check;
  return check;
}

}  // namespace pbit::detail
