// IDX dataset files (MNIST, Fashion-MNIST), raw or gzip-compressed (the first byte picks which name
// the file gets, and so how it is read).
#include "fuzz_common.hpp"
#include "pbit/models/dataset.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pbit::fuzz::init_limits();
  if (pbit::fuzz::seed_dir()) {
    // 3 images of 2 x 3 pixels, and 3 labels; raw and gzipped.
    const std::string images("\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x02\x00\x00\x00\x03" "abcdefghijklmnopqr", 34);
    const std::string labels("\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03", 11);
    for (const auto& [name, bytes] : {std::pair{"images", images}, std::pair{"labels", labels}}) {
      pbit::fuzz::write_seed(std::string(name) + "_raw", std::string(1, '\0') + bytes);
      uLongf n = compressBound(bytes.size()) + 32;
      std::string gz(n, '\0');
      // A gzip stream (zlib's deflate with the gzip wrapper: windowBits 15 + 16).
      z_stream z{};
      deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
      z.avail_in = static_cast<uInt>(bytes.size());
      z.next_out = reinterpret_cast<Bytef*>(gz.data());
      z.avail_out = static_cast<uInt>(n);
      deflate(&z, Z_FINISH);
      gz.resize(z.total_out);
      deflateEnd(&z);
      pbit::fuzz::write_seed(std::string(name) + "_gz", std::string(1, '\1') + gz);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string path = pbit::fuzz::write_input(data + 1, size - 1, data[0] & 1 ? "-idx.gz" : "-idx");
  return pbit::fuzz::accept_errors([&] { (void)pbit::read_idx(path); });
}
