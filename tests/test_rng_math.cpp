#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "pbit/core/detail/gibbs_math.hpp"
#include "pbit/core/rng.hpp"

namespace pbit::test {
namespace {

// Random123's published known-answer vectors for Philox4x32-10 (kat_vectors).
TEST(Philox, KnownAnswerVectors) {
  struct Kat {
    rng::Counter c;
    rng::Key k;
    rng::Block want;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& t : kats) {
    const rng::Block b = rng::philox4x32_10(t.c, t.k);
    EXPECT_EQ(b.w0, t.want.w0);
    EXPECT_EQ(b.w1, t.want.w1);
    EXPECT_EQ(b.w2, t.want.w2);
    EXPECT_EQ(b.w3, t.want.w3);
  }
}

// Random123's known-answer vectors for Philox4x32-7, the `fast` contract's generator.
TEST(Philox, SevenRoundKnownAnswerVectors) {
  struct Kat {
    rng::Counter c;
    rng::Key k;
    rng::Block want;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
  };
  for (const Kat& t : kats) {
    const rng::Block b = rng::philox4x32_7(t.c, t.k);
    EXPECT_EQ(b.w0, t.want.w0);
    EXPECT_EQ(b.w1, t.want.w1);
    EXPECT_EQ(b.w2, t.want.w2);
    EXPECT_EQ(b.w3, t.want.w3);
  }
}

// Under both contracts every (chain, color, rank, sweep) gets its own random bits: no two updates of
// a small run share a (counter, word, bit range), so no two chains (or nodes, or sweeps) can move in
// lockstep.
TEST(Philox, EveryUpdateHasItsOwnBitsUnderBothContracts) {
  for (const bool fast : {false, true}) {
    std::set<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint32_t>> seen;  // counter, bit range
    for (uint32_t chain = 0; chain < 40; ++chain)
      for (uint32_t color = 0; color < 3; ++color)
        for (uint32_t rank = 0; rank < 37; ++rank)
          for (uint32_t sweep = 0; sweep < 5; ++sweep) {
            const rng::Counter c = fast ? rng::fast_gibbs_counter(chain, color, rank, sweep) : rng::gibbs_counter(chain, color, rank, sweep);
            const uint32_t bits = fast ? (rank & 7u) : (rank & 3u);  // 16-bit half, or 32-bit word
            EXPECT_EQ(c.c0, chain);
            EXPECT_TRUE(seen.insert({c.c0, c.c1, c.c2, c.c3, bits}).second)
                << (fast ? "fast" : "exact") << ": chain " << chain << " color " << color << " rank " << rank << " sweep " << sweep;
          }
  }
  // fast_half takes the eight 16-bit halves of a block in rank order.
  const rng::Block b{0x11110000u, 0x33332222u, 0x55554444u, 0x77776666u};
  for (uint32_t r = 0; r < 16; ++r) EXPECT_EQ(rng::fast_half(b, r), 0x1111u * (r % 8)) << r;
}

TEST(Philox, StreamsOfOneSeedHaveDistinctKeys) {
  std::set<std::pair<uint32_t, uint32_t>> keys;
  for (uint32_t s = 0; s < 1000; ++s) {
    const rng::Key k = rng::make_key(42, s);
    keys.insert({k.k0, k.k1});
  }
  EXPECT_EQ(keys.size(), 1000u);
}

TEST(Philox, UniformIsInUnitIntervalAndUnbiased) {
  EXPECT_EQ(rng::u01(0u), 0.0f);
  EXPECT_LT(rng::u01(0xffffffffu), 1.0f);
  EXPECT_EQ(rng::u01(0xffffffffu), 1.0f - 0x1p-24f);
  // Mean and variance of 400k uniforms from the Gibbs counter layout.
  double s1 = 0, s2 = 0;
  const int n = 100000;
  for (int c = 0; c < n; ++c) {
    const rng::Block b = rng::philox4x32_10(rng::gibbs_counter(c, 1, 8, 3), rng::make_key(9, rng::kGibbs));
    for (uint32_t w : {b.w0, b.w1, b.w2, b.w3}) {
      const double u = rng::u01(w);
      s1 += u;
      s2 += u * u;
    }
  }
  const double mean = s1 / (4 * n), var = s2 / (4 * n) - mean * mean;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / (4 * n)));
  EXPECT_NEAR(var, 1.0 / 12, 0.002);
}

TEST(Philox, SequentialStreamIsDeterministic) {
  rng::PhiloxStream a(7, rng::kTest), b(7, rng::kTest), c(8, rng::kTest);
  int same_c = 0;
  for (int k = 0; k < 100; ++k) {
    const uint32_t x = a.next_u32();
    EXPECT_EQ(x, b.next_u32());
    same_c += x == c.next_u32();
  }
  EXPECT_LT(same_c, 3);
  rng::PhiloxStream d(1, rng::kTest);
  std::vector<int> hist(7, 0);
  for (int k = 0; k < 70000; ++k) ++hist[d.uniform_int(7)];
  for (int h : hist) EXPECT_NEAR(h, 10000, 500);
}

// shuffle: the Fisher-Yates order every trainer's epoch uses (its contract: the same draws as the
// loop written out, so an epoch's order is a function of (seed, stream, tag) alone), a permutation,
// and uniform: the 24 orders of 4 items each come up 1/24 of the time within 5 standard errors.
TEST(Philox, ShuffleIsAUniformFisherYatesPermutation) {
  for (size_t n : {0u, 1u, 2u, 7u, 1000u}) {
    std::vector<int64_t> a(n), b(n);
    for (size_t k = 0; k < n; ++k) a[k] = b[k] = static_cast<int64_t>(k);
    rng::PhiloxStream ra(3, rng::kTest, 9), rb(3, rng::kTest, 9);
    ra.shuffle(a);
    for (int64_t i = static_cast<int64_t>(n) - 1; i > 0; --i) std::swap(b[i], b[rb.uniform_int(static_cast<uint32_t>(i + 1))]);
    EXPECT_EQ(a, b) << n;
    EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), n);
  }
  constexpr int kDraws = 240000;
  std::map<std::vector<int>, int> seen;
  rng::PhiloxStream rs(4, rng::kTest);
  for (int d = 0; d < kDraws; ++d) {
    std::vector<int> v = {0, 1, 2, 3};
    rs.shuffle(v);
    ++seen[v];
  }
  ASSERT_EQ(seen.size(), 24u);
  const double p = 1.0 / 24, se = std::sqrt(p * (1 - p) / kDraws);
  for (const auto& [order, count] : seen) EXPECT_NEAR(static_cast<double>(count) / kDraws, p, 5 * se);
}

TEST(GibbsMath, ExpDetIsAccurate) {
  double worst = 0;
  for (float x = -80.0f; x <= 80.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(detail::exp_det(x) - want) / want);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(detail::exp_det(0.0f), 1.0f);
  // Clamped outside [-80, 80], never inf or 0.
  EXPECT_EQ(detail::exp_det(1000.0f), detail::exp_det(80.0f));
  EXPECT_GT(detail::exp_det(-1000.0f), 0.0f);
  EXPECT_TRUE(std::isfinite(detail::exp_det(1e30f)));
}

TEST(GibbsMath, ExpFastIsAccurateEnoughForSixteenBitUniforms) {
  double worst = 0;
  for (float x = -80.0f; x <= 80.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(detail::exp_fast(x) - want) / want);
  }
  EXPECT_LT(worst, 3.5e-6);
  EXPECT_GT(worst, 3e-7);  // it is the cheaper polynomial, not exp_det again
  EXPECT_EQ(detail::exp_fast(0.0f), 1.0f);
  EXPECT_EQ(detail::exp_fast(1000.0f), detail::exp_fast(80.0f));
  EXPECT_GT(detail::exp_fast(-1000.0f), 0.0f);
}

// The `fast` decision on all 2^16 values of h: the fraction that gives +1 is within the documented
// bound (2^-17 for the grid, plus exp_fast's share) of the exact sigmoid.
TEST(GibbsMath, FastDecisionMatchesSigmoidWithinItsBound) {
  double worst = 0;
  for (float beta : {0.0f, 0.25f, 1.0f, 3.0f}) {
    for (float field = -9.0f; field <= 9.0f; field += 0.0625f) {
      const float e = detail::exp_fast(-2.0f * beta * field);
      uint32_t up = 0;
      for (uint32_t h = 0; h < 65536; ++h) up += detail::gibbs_up_fast(h, e);
      const double p_true = 1.0 / (1.0 + std::exp(-2.0 * static_cast<double>(beta) * field));
      worst = std::max(worst, std::fabs(up / 65536.0 - p_true));
      // Monotone in h: the ups are exactly h < up.
      EXPECT_TRUE(up == 0 || detail::gibbs_up_fast(up - 1, e));
      EXPECT_TRUE(up == 65536 || !detail::gibbs_up_fast(up, e));
    }
  }
  EXPECT_LT(worst, 8.6e-6) << worst;  // the bound in gibbs_math.hpp
  std::printf("fast contract: largest |P_fast - sigmoid| over the grid: %.3g\n", worst);
  EXPECT_GT(worst, 1e-6);    // and the grid is really 16 bits
  EXPECT_EQ(detail::gibbs_spin_fast(0u, 2.0f, -3.0f), 1);        // P(up) = 0.0025 > (0 + 1/2) 2^-16
  EXPECT_EQ(detail::gibbs_spin_fast(0u, 2.0f, -9.0f), -1);       // P(up) = 1.5e-8 is below the grid
  EXPECT_EQ(detail::gibbs_spin_fast(32767u, 2.0f, 0.0f), 1);     // (h + 1/2) 2^-16 < 1/2
  EXPECT_EQ(detail::gibbs_spin_fast(32768u, 2.0f, 0.0f), -1);
}

TEST(GibbsMath, FlipProbabilityIsTheSigmoidOfTwoBetaI) {
  for (float beta : {0.0f, 0.3f, 1.0f, 2.5f}) {
    for (float field = -6.0f; field <= 6.0f; field += 0.25f) {
      const double want = 1.0 / (1.0 + std::exp(-2.0 * beta * field));
      EXPECT_NEAR(detail::flip_up_probability(2.0f * beta, field), want, 2e-7) << beta << " " << field;
    }
  }
  EXPECT_EQ(detail::flip_up_probability(0.0f, 123.0f), 0.5f);
  // A NaN-free answer at extreme fields.
  EXPECT_EQ(detail::flip_up_probability(2.0f, 1e30f), 1.0f);
  EXPECT_GE(detail::flip_up_probability(2.0f, -1e30f), 0.0f);
}

// The decision u * (1 + e) < 1 must be the event u < sigmoid(2 beta I) up to the 2^-24 grid of u:
// the fraction of the 2^24 possible uniforms that give +1 is found by bisection (the decision is
// monotone in u) and compared with the exact sigmoid.
TEST(GibbsMath, DecisionMatchesSigmoidOnTheUniformGrid) {
  for (float beta : {0.0f, 0.25f, 1.0f, 3.0f}) {
    for (float field = -9.0f; field <= 9.0f; field += 0.125f) {
      const float e = detail::boltzmann_ratio(2.0f * beta, field);
      uint32_t lo = 0, hi = 1u << 24;  // first grid index whose uniform gives -1
      while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if (detail::gibbs_up(mid << 8, e)) lo = mid + 1; else hi = mid;
      }
      const double p_grid = static_cast<double>(lo) / (1u << 24);
      const double p_true = 1.0 / (1.0 + std::exp(-2.0 * static_cast<double>(beta) * field));
      EXPECT_NEAR(p_grid, p_true, 3.0 / (1u << 24)) << "beta " << beta << " field " << field;
    }
  }
  // gibbs_spin is gibbs_up on the same ratio.
  EXPECT_EQ(detail::gibbs_spin(0u, 2.0f, -5.0f), 1);           // u = 0 always flips up
  EXPECT_EQ(detail::gibbs_spin(0xffffffffu, 2.0f, 0.0f), -1);  // u ~ 1 > 1/2
  EXPECT_EQ(detail::gibbs_spin(0x80000000u, 2.0f, 0.0f), -1);  // u = 1/2 is not < 1/2
  EXPECT_EQ(detail::gibbs_spin(0x7fffff00u, 2.0f, 0.0f), 1);
}

}  // namespace
}  // namespace pbit::test

namespace pbit::detail {
namespace {

TEST(GibbsMath, TimesSpinIsTheProductBitForBit) {
  // times_spin (a sign flip, used by the bit-packed loop) must equal w * (+-1.0f) in every bit, or the
  // packed path would drift from the reference.
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-45f, -3.4e38f, std::numeric_limits<float>::infinity()};
  rng::PhiloxStream rs(5, rng::kTest);
  std::vector<float> ws(special, special + 7);
  for (int k = 0; k < 10000; ++k) ws.push_back(bits_to_float(rs.next_u32()));
  int checked = 0;
  for (float w : ws) {
    if (std::isnan(w)) continue;
    for (uint32_t up : {0u, 1u}) {
      EXPECT_EQ(float_to_bits(times_spin(w, up)), float_to_bits(fmul(w, up ? 1.0f : -1.0f))) << w << " up=" << up;
      ++checked;
    }
  }
  EXPECT_GT(checked, 19000);
}

TEST(GibbsMath, TimesWordSpinReadsTheLanesBit) {
  // The packed loop's form: the spin of lane l of a 32-chain word, with the shift 31 - l.
  rng::PhiloxStream rs(6, rng::kTest);
  int checked = 0;
  for (int k = 0; k < 2000; ++k) {
    const float w = bits_to_float(rs.next_u32());
    const uint32_t word = rs.next_u32();
    if (std::isnan(w)) continue;
    for (uint32_t lane = 0; lane < 32; ++lane) {
      EXPECT_EQ(float_to_bits(times_word_spin(w, word, 31u - lane)), float_to_bits(times_spin(w, (word >> lane) & 1u)))
          << w << " word=" << word << " lane=" << lane;
      ++checked;
    }
  }
  EXPECT_GT(checked, 60000);
}

}  // namespace
}  // namespace pbit::detail

namespace pbit::test {
namespace {

// ---------------------------------------------------------------- the stream registry (rng.hpp)

TEST(RngStreams, NoTwoUsesCollide) {
  using namespace rng;
  struct Use {
    std::string owner;
    uint64_t first, last;  // inclusive
  };
  std::vector<Use> uses;
  for (const auto& [name, id] : std::vector<std::pair<std::string, uint32_t>>{
           {"kGibbs", kGibbs}, {"kInitState", kInitState}, {"kGraphGen", kGraphGen}, {"kRolePlacement", kRolePlacement},
           {"kWeightInit", kWeightInit}, {"kDataShuffle", kDataShuffle}, {"kForwardNoise", kForwardNoise},
           {"kCompareWorkload", kCompareWorkload}, {"kTest", kTest}, {"kProjection", kProjection}}) {
    uses.push_back({name, id, id});
  }
  for (const StreamRange& r : {kDbmStreams, kDtmStreams, kEqPropStreams, kPdnnStreams, kHardwareStreams, kTemperingStreams}) {
    ASSERT_GT(r.size, 0u) << r.owner;
    uses.push_back({r.owner, r.first, static_cast<uint64_t>(r.first) + r.size - 1});
  }
  for (size_t a = 0; a < uses.size(); ++a)
    for (size_t b = a + 1; b < uses.size(); ++b) {
      EXPECT_TRUE(uses[a].last < uses[b].first || uses[b].last < uses[a].first)
          << uses[a].owner << " [" << uses[a].first << ", " << uses[a].last << "] overlaps " << uses[b].owner << " ["
          << uses[b].first << ", " << uses[b].last << "]";
    }
  // Each family's ids stay in its block, for every input it can be given, and are all different.
  std::set<uint32_t> seen;
  for (DbmPhase p : {DbmPhase::positive, DbmPhase::negative, DbmPhase::eval, DbmPhase::generate}) {
    EXPECT_TRUE(kDbmStreams.contains(dbm_stream(p)));
    EXPECT_TRUE(seen.insert(dbm_stream(p)).second);
  }
  for (uint32_t era = 0; era <= kDbmMaxEras; ++era)
    for (DbmPhase p : {DbmPhase::positive, DbmPhase::negative}) {
      const uint32_t id = dbm_training_stream(p, era);
      EXPECT_TRUE(kDbmStreams.contains(id)) << "era " << era;
      if (era == 0) EXPECT_EQ(id, dbm_stream(p));  // (seen already)
      else EXPECT_TRUE(seen.insert(id).second) << "era " << era;
    }
  for (uint32_t t = 1; t <= kDtmMaxSteps; ++t)
    for (DtmPhase p : {DtmPhase::positive, DtmPhase::negative, DtmPhase::acp, DtmPhase::generate}) {
      const uint32_t id = dtm_stream(t, p);
      ASSERT_TRUE(kDtmStreams.contains(id)) << "step " << t;
      ASSERT_TRUE(seen.insert(id).second) << "step " << t;
    }
  for (EqPropUse u : {EqPropUse::train, EqPropUse::eval, EqPropUse::shuffle, EqPropUse::init, EqPropUse::pat}) {
    EXPECT_TRUE(kEqPropStreams.contains(eqprop_stream(u)));
    EXPECT_TRUE(seen.insert(eqprop_stream(u)).second);
  }
  for (PdnnUse u : {PdnnUse::eval, PdnnUse::train, PdnnUse::init, PdnnUse::shuffle, PdnnUse::bench, PdnnUse::latent,
                    PdnnUse::generate}) {
    EXPECT_TRUE(kPdnnStreams.contains(pdnn_stream(u)));
    EXPECT_TRUE(seen.insert(pdnn_stream(u)).second);
  }
  for (HardwareUse u : {HardwareUse::device, HardwareUse::lfsr}) {
    EXPECT_TRUE(kHardwareStreams.contains(hardware_stream(u)));
    EXPECT_TRUE(seen.insert(hardware_stream(u)).second);
  }
  EXPECT_TRUE(kTemperingStreams.contains(tempering_stream(TemperingUse::swap)));
  EXPECT_TRUE(seen.insert(tempering_stream(TemperingUse::swap)).second);
  // The ids the DBM and DTM always used, so their results did not move when the registry came.
  EXPECT_EQ(dbm_stream(DbmPhase::positive), 1001u);
  EXPECT_EQ(dtm_stream(3, DtmPhase::acp), 2014u);
}

TEST(RngStreams, LibrarySourcesTakeTheirIdsFromTheRegistry) {
  // No stream id written as a number, and the tests' stream never used, outside rng.hpp: a literal
  // id is how two uses would come to share random numbers.
  const std::regex literal(R"((PhiloxStream\s*\w*\s*\(|make_key\s*\(|sampler_options\s*\()[^;]*,\s*[0-9]+u?\s*[,)])");
  const std::regex test_stream(R"(\bkTest\b)");
  int files = 0;
  for (const char* dir : {"src", "kernels"}) {
    for (const auto& f : std::filesystem::recursive_directory_iterator(std::string(PBIT_SOURCE_DIR) + "/" + dir)) {
      const std::string ext = f.path().extension().string();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".cu" && ext != ".cuh") continue;
      ++files;
      std::ifstream in(f.path());
      int line = 0;
      for (std::string l; std::getline(in, l);) {
        ++line;
        EXPECT_FALSE(std::regex_search(l, literal)) << f.path() << ":" << line << " picks a stream id of its own: " << l;
        EXPECT_FALSE(std::regex_search(l, test_stream)) << f.path() << ":" << line << " uses the tests' stream: " << l;
      }
    }
  }
  EXPECT_GT(files, 30);
}

}  // namespace
}  // namespace pbit::test
