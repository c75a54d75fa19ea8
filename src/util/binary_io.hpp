// Little helpers for pbit's binary checkpoint files: raw values and length-prefixed arrays, with
// truncation and size mismatches reported as errors naming the file.
#pragma once
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pbit/error.hpp"
#include "util/file_io.hpp"

namespace pbit::detail {

template <class T>
void put(std::ostream& f, const T& v) {
  f.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
void put_vec(std::ostream& f, const std::vector<T>& v) {
  put<uint64_t>(f, v.size());
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}
inline void put_string(std::ostream& f, const std::string& s) {
  put<uint64_t>(f, s.size());
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}
template <class T>
T get(std::istream& f, const std::string& path) {
  T v{};
  if (!f.read(reinterpret_cast<char*>(&v), sizeof v)) throw InvalidArgument("file '" + path + "' is truncated");
  return v;
}
/// Bytes left to read in f, or -1 when the stream cannot tell.
inline int64_t bytes_left(std::istream& f) {
  const auto pos = f.tellg();
  if (pos < 0) return -1;
  f.seekg(0, std::ios::end);
  const auto end = f.tellg();
  f.seekg(pos);
  return end < 0 ? -1 : static_cast<int64_t>(end - pos);
}

template <class T>
std::vector<T> get_vec(std::istream& f, const std::string& path, size_t expect) {
  const auto n = get<uint64_t>(f, path);
  if (n != expect) {
    throw InvalidArgument("file '" + path + "' holds an array of " + std::to_string(n) + " where this model and config have " +
                          std::to_string(expect) + " (a different graph or config?)");
  }
  // Nothing is allocated for an array the file does not hold.
  const int64_t left = bytes_left(f);
  if (left >= 0 && n > static_cast<uint64_t>(left) / sizeof(T)) throw InvalidArgument("file '" + path + "' is truncated");
  std::vector<T> v(n);
  if (!f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)))) {
    throw InvalidArgument("file '" + path + "' is truncated");
  }
  return v;
}
inline std::string get_string(std::istream& f, const std::string& path) {
  const auto n = get<uint64_t>(f, path);
  if (n > (uint64_t{1} << 30)) throw InvalidArgument("file '" + path + "' is corrupt");
  const int64_t left = bytes_left(f);  // nothing is allocated for a string the file does not hold
  if (left >= 0 && n > static_cast<uint64_t>(left)) throw InvalidArgument("file '" + path + "' is truncated");
  std::string s(n, '\0');
  if (!f.read(s.data(), static_cast<std::streamsize>(n))) throw InvalidArgument("file '" + path + "' is truncated");
  return s;
}

/// bfloat16: the upper half of a float, rounded to nearest even (optimizer moments in model-only
/// checkpoints; their relative error, at most 2^-8, is far below the noise of the gradients they average).
/// Infinities and NaNs keep their class (a NaN's payload may be cut to its upper half).
inline std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    uint32_t b;
    std::memcpy(&b, &v[k], 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b += 0x7fffu + ((b >> 16) & 1u);  // finite: round
    out[k] = static_cast<uint16_t>(b >> 16);
  }
  return out;
}
/// The floats that bfloat16 values stand for (exact).
inline std::vector<float> from_bf16(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    const uint32_t b = static_cast<uint32_t>(v[k]) << 16;
    std::memcpy(&out[k], &b, 4);
  }
  return out;
}

/// Writes `path` through the one atomic writer (util/file_io.hpp).
inline void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& body) {
  write_file_atomically(path, body);
}

/// FNV-1a 64 of bytes (config fingerprints, data), continuing from `h`.
inline uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

}  // namespace pbit::detail
