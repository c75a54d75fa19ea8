// A cheap per-p-bit random source (PbitHardware::rng = "lfsr"): the 32-bit Galois LFSR an FPGA p-bit
// reads instead of Philox, emulated exactly and still keyed by logical identity.
//
// Each p-bit (chain b, node i) owns an LFSR with the maximal-length polynomial
// x^32 + x^22 + x^2 + x + 1 (Galois taps 0x80200003, period 2^32 - 1; tests/test_hardware.cpp proves
// the period from the step matrix), seeded with a nonzero word of Philox(chain, node, the sampler's
// stream) under the sampler's seed and the stream hardware_stream(HardwareUse::lfsr), and stepped `steps` times per
// sweep. The uniform of node i at absolute sweep t is the LFSR's state after steps (t + 1) steps, read
// as the 32-bit word of the exact contract (u = (word >> 8) 2^-24). Because the state is a linear
// function of the seed, state_t = M^(steps (t + 1)) s_0 for the step matrix M over GF(2), the
// kernels compute it from the seed and that sweep's matrix (32 column words, made on the host): no
// state is stored, so split runs, checkpoints and every backend give the same chains.
//
// steps = 1 is the naive design (the register read every clock it shifts once, so consecutive
// uniforms share 31 bits); steps = 32 gives each update 32 fresh shifts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pbit/core/rng.hpp"

namespace pbit::detail {

constexpr uint32_t kLfsrTaps = 0x80200003u;

/// One step of the Galois LFSR.
PBIT_HD uint32_t lfsr_step(uint32_t s) { return (s >> 1) ^ ((0u - (s & 1u)) & kLfsrTaps); }

/// A 32 x 32 matrix over GF(2) as its columns (cols[k] = the image of bit k) applied to s.
PBIT_HD uint32_t gf2_apply(const uint32_t* cols, uint32_t s) {
  uint32_t w = 0;
  for (int k = 0; k < 32; ++k) w ^= cols[k] & (0u - ((s >> k) & 1u));
  return w;
}

/// The LFSR's seed for (chain, node) of the sampler with stream id `stream`: word 0 of
/// Philox(chain, node, stream, 0), 1 where that is 0.
PBIT_HD uint32_t lfsr_seed(rng::Key key, uint32_t stream, uint32_t chain, uint32_t node) {
  const uint32_t w = rng::philox4x32_10(rng::Counter{chain, node, stream, 0u}, key).w0;
  return w ? w : 1u;
}

/// Host: matrices over GF(2) (32 columns each).
struct Gf2Matrix {
  uint32_t c[32];
  static Gf2Matrix identity() {
    Gf2Matrix m{};
    for (int k = 0; k < 32; ++k) m.c[k] = 1u << k;
    return m;
  }
  static Gf2Matrix lfsr_step_matrix() {
    Gf2Matrix m{};
    for (int k = 0; k < 32; ++k) m.c[k] = lfsr_step(1u << k);
    return m;
  }
  /// (this * b): b first, then this.
  Gf2Matrix operator*(const Gf2Matrix& b) const {
    Gf2Matrix r{};
    for (int k = 0; k < 32; ++k) r.c[k] = gf2_apply(c, b.c[k]);
    return r;
  }
  bool operator==(const Gf2Matrix& o) const {
    for (int k = 0; k < 32; ++k)
      if (c[k] != o.c[k]) return false;
    return true;
  }
  Gf2Matrix pow(uint64_t n) const {
    Gf2Matrix r = identity(), b = *this;
    for (; n; n >>= 1, b = b * b)
      if (n & 1u) r = r * b;
    return r;
  }
};

/// The matrices of sweeps first_sweep .. first_sweep + count - 1 (32 words each, in order): sweep t
/// reads the state after steps (t + 1) steps.
inline std::vector<uint32_t> lfsr_sweep_matrices(uint64_t first_sweep, size_t count, uint32_t steps) {
  const Gf2Matrix per_sweep = Gf2Matrix::lfsr_step_matrix().pow(steps);
  Gf2Matrix a = per_sweep.pow(first_sweep + 1);
  std::vector<uint32_t> out(count * 32);
  for (size_t s = 0; s < count; ++s) {
    for (int k = 0; k < 32; ++k) out[s * 32 + static_cast<size_t>(k)] = a.c[k];
    a = per_sweep * a;
  }
  return out;
}

/// What the kernels read: the stretch's sweep matrices and the seeds' key (cols == nullptr: Philox).
struct LfsrArgs {
  const uint32_t* cols = nullptr;  ///< 32 words per sweep of the stretch
  rng::Key key{};
  uint32_t stream = 0;             ///< the sampler's stream id
};

/// Node `node` of chain `chain` at the stretch's sweep k: the LFSR's word.
PBIT_HD uint32_t lfsr_word(const LfsrArgs& a, int64_t k, uint32_t chain, uint32_t node) {
  return gf2_apply(a.cols + 32 * k, lfsr_seed(a.key, a.stream, chain, node));
}

}  // namespace pbit::detail
