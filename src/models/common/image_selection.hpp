// The check of a selection of a dataset's images (training and test indices, a batch), before a
// model reads them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pbit/error.hpp"
#include "pbit/models/dataset.hpp"

namespace pbit::detail {

/// Throws InvalidArgument, the message beginning with `what`, unless `d` passes ImageDataset::check
/// and index[first, first + n) lies within `index` and names images of `d`.
inline void check_image_selection(const ImageDataset& d, const std::vector<int64_t>& index, int64_t first, int64_t n,
                                  const std::string& what) {
  d.check(what);
  if (first < 0 || n < 0 || first > static_cast<int64_t>(index.size()) - n) {
    throw InvalidArgument(what + ": entries " + std::to_string(first) + " to " + std::to_string(first + n) + " of a selection of " +
                          std::to_string(index.size()) + " images");
  }
  for (int64_t k = first; k < first + n; ++k) {
    const int64_t i = index[static_cast<size_t>(k)];
    if (i < 0 || i >= d.size()) {
      throw InvalidArgument(what + ": image " + std::to_string(i) + " is not one of the dataset's " + std::to_string(d.size()));
    }
  }
}

}  // namespace pbit::detail
