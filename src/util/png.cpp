#include "pbit/util/png.hpp"

#include "util/file_io.hpp"

#include <algorithm>
#include <zlib.h>

#include <fstream>

#include "pbit/error.hpp"

namespace pbit {
namespace {

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

void chunk(std::ostream& f, const char* type, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> body;  // type + data, which the CRC covers
  body.reserve(4 + data.size());
  for (int k = 0; k < 4; ++k) body.push_back(static_cast<uint8_t>(type[k]));
  for (uint8_t x : data) body.push_back(x);
  std::vector<uint8_t> len, crc;
  put32(len, static_cast<uint32_t>(data.size()));
  put32(crc, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
  for (const auto* v : {&len, &body, &crc}) f.write(reinterpret_cast<const char*>(v->data()), static_cast<std::streamsize>(v->size()));
}

}  // namespace

void write_png_gray(const std::string& path, int32_t width, int32_t height, const std::vector<uint8_t>& pixels) {
  if (width < 1 || height < 1 || pixels.size() != static_cast<size_t>(width) * height) {
    throw InvalidArgument("write_png_gray: " + std::to_string(pixels.size()) + " pixels for " + std::to_string(width) + "x" +
                          std::to_string(height));
  }
  std::vector<uint8_t> raw;  // each row: filter byte 0, then the pixels
  raw.reserve(static_cast<size_t>(height) * (width + 1));
  for (int32_t r = 0; r < height; ++r) {
    raw.push_back(0);
    raw.insert(raw.end(), pixels.begin() + static_cast<size_t>(r) * width, pixels.begin() + static_cast<size_t>(r + 1) * width);
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(zlen);
  if (compress2(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK) throw IoError("PNG compression failed");
  z.resize(zlen);
  detail::write_file_atomically(path, [&](std::ostream& f) {
    const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    f.write(reinterpret_cast<const char*>(sig), 8);
    std::vector<uint8_t> ihdr;
    put32(ihdr, static_cast<uint32_t>(width));
    put32(ihdr, static_cast<uint32_t>(height));
    ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8-bit, grayscale, deflate, no filter, no interlace
    chunk(f, "IHDR", ihdr);
    chunk(f, "IDAT", z);
    chunk(f, "IEND", {});
  });
}

void write_spin_grid_png(const std::string& path, const std::vector<std::vector<int8_t>>& images, int32_t rows,
                         int32_t cols, int32_t per_row, int32_t min_width) {
  if (images.empty() || per_row < 1) throw InvalidArgument("write_spin_grid_png: no images");
  const int32_t n = static_cast<int32_t>(images.size());
  const int32_t grid_rows = (n + per_row - 1) / per_row;
  const int32_t W = per_row * (cols + 1) + 1, H = grid_rows * (rows + 1) + 1;
  std::vector<uint8_t> px(static_cast<size_t>(W) * H, 128);
  for (int32_t k = 0; k < n; ++k) {
    if (static_cast<int32_t>(images[k].size()) != rows * cols) throw InvalidArgument("write_spin_grid_png: image size mismatch");
    const int32_t r0 = (k / per_row) * (rows + 1) + 1, c0 = (k % per_row) * (cols + 1) + 1;
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t c = 0; c < cols; ++c) px[static_cast<size_t>(r0 + r) * W + c0 + c] = images[k][r * cols + c] > 0 ? 255 : 0;
  }
  const int32_t s = std::clamp((min_width + W - 1) / W, 1, 8);
  if (s == 1) {
    write_png_gray(path, W, H, px);
    return;
  }
  std::vector<uint8_t> big(static_cast<size_t>(W) * s * H * s);
  for (int32_t y = 0; y < H * s; ++y)
    for (int32_t x = 0; x < W * s; ++x) big[static_cast<size_t>(y) * W * s + x] = px[static_cast<size_t>(y / s) * W + x / s];
  write_png_gray(path, W * s, H * s, big);
}

}  // namespace pbit
