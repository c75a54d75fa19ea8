// The checks of images before a model reads them: their size, and a selection of a dataset's images
// (training and test indices, a batch).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pbit/error.hpp"
#include "pbit/models/dataset.hpp"

namespace pbit::detail {

/// Whether images of rows x cols pixels have at least one pixel a side and fewer than 2^31 pixels
/// (the models index them with int32).
inline bool image_size_ok(int32_t rows, int32_t cols) { return rows >= 1 && cols >= 1 && static_cast<int64_t>(rows) * cols <= INT32_MAX; }

/// Throws InvalidArgument, the message beginning with `what`, unless image_size_ok(rows, cols).
inline void check_image_size(std::string_view what, int32_t rows, int32_t cols) {
  if (!image_size_ok(rows, cols)) {
    throw InvalidArgument(std::string(what) + " images of " + std::to_string(rows) + "x" + std::to_string(cols) +
                          " pixels (each side at least 1, fewer than 2^31 pixels)");
  }
}

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
