// gather_bytes and broadcast_bytes in pieces (mpi.pieces, mpirun -np 3): every rank's bytes reach rank
// 0 in rank order, and rank 0's reach every rank, whatever the largest message. A result of 2 GB or
// more travels in messages of at most kMessageBytes; that size is too large to test here, so smaller
// ones stand in for it (a message of 1 byte, and sizes that do not divide the ranks' counts).
#include <cstdint>
#include <cstdio>
#include <vector>

#include "pbit/dist/comm.hpp"
#include "pbit/error.hpp"

namespace {
/// Rank k's bytes: none on rank 1 (a rank without chains), 10k + 3 elsewhere, each telling its rank.
std::vector<uint8_t> bytes_of(int k) {
  std::vector<uint8_t> v(k == 1 ? 0 : static_cast<size_t>(10 * k + 3));
  for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<uint8_t>((31 * k + static_cast<int>(j)) % 251);
  return v;
}
}  // namespace

int main(int argc, char** argv) {
  pbit::dist::init(&argc, &argv);
  const int r = pbit::dist::rank(), n = pbit::dist::size();
  int bad = 0;
  auto fail = [&](const char* what, size_t piece) {
    std::fprintf(stderr, "rank %d: %s (messages of %zu bytes)\n", r, what, piece);
    ++bad;
  };
  if (n < 3) fail("run me with mpirun -np 3 or more", 0);
  std::vector<uint8_t> all;
  for (int k = 0; k < n; ++k) {
    const std::vector<uint8_t> b = bytes_of(k);
    all.insert(all.end(), b.begin(), b.end());
  }
  for (const size_t piece : {size_t{1}, size_t{4}, size_t{7}, size_t{23}, pbit::dist::kMessageBytes}) {
    const std::vector<uint8_t> mine = bytes_of(r);
    const std::vector<uint8_t> got = pbit::dist::gather_bytes(mine, piece);
    if (r == 0 ? got != all : !got.empty()) fail("gather_bytes", piece);
    std::vector<uint8_t> b = r == 0 ? all : std::vector<uint8_t>(5, 9);
    pbit::dist::broadcast_bytes(b, piece);
    if (b != all) fail("broadcast_bytes", piece);
    std::vector<uint8_t> none = r == 0 ? std::vector<uint8_t>{} : std::vector<uint8_t>(3, 1);
    pbit::dist::broadcast_bytes(none, piece);
    if (!none.empty()) fail("broadcast_bytes of nothing", piece);
  }
  for (const size_t piece : {size_t{0}, size_t{1} << 31}) {
    try {
      pbit::dist::gather_bytes(bytes_of(r), piece);
      fail("a message size out of range was taken", piece);
    } catch (const pbit::InvalidArgument&) {
    }
  }
  if (r == 0 && bad == 0) std::printf("gather_bytes and broadcast_bytes in pieces: %d ranks, every piece size: same bytes\n", n);
  return bad == 0 ? 0 : 1;
}
