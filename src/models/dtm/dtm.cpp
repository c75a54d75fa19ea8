#include "pbit/models/dtm.hpp"

#include <cmath>

#include "pbit/error.hpp"
#include "pbit/core/rng.hpp"

namespace pbit::dtm {

std::vector<double> time_grid(int32_t T) {
  if (T < 1) throw InvalidArgument("DTM needs T >= 1 steps, got " + std::to_string(T));
  std::vector<double> t(static_cast<size_t>(T) + 1);
  for (int32_t k = 0; k < T; ++k) t[k] = -std::log1p(-static_cast<double>(k) / T);
  t[T] = std::numeric_limits<double>::infinity();
  return t;
}

double flip_probability(double lambda, double dt) {
  if (!(lambda >= 0) || !(dt >= 0)) throw InvalidArgument("forward process needs lambda >= 0 and dt >= 0");
  return 0.5 * (1.0 - std::exp(-lambda * dt));  // exp(-inf) = 0: a pure-noise step flips with 1/2
}

double forward_coupling(double lambda, double dt) {
  if (!(lambda >= 0) || !(dt >= 0)) throw InvalidArgument("forward coupling needs lambda >= 0 and dt >= 0");
  const double x = lambda * dt;
  if (x == 0) return std::numeric_limits<double>::infinity();
  if (std::isinf(x)) return 0.0;
  return -0.5 * std::log(std::tanh(0.5 * x));
}

void reverse_field(std::span<const int8_t> x, int32_t pixels, double lambda, double label_lambda, double dt, std::span<float> out) {
  if (pixels < 0 || static_cast<size_t>(pixels) > x.size() || out.size() != x.size()) {
    throw InvalidArgument("reverse field: " + std::to_string(x.size()) + " spins with " + std::to_string(pixels) + " pixels into " +
                          std::to_string(out.size()) + " values");
  }
  const auto jd = static_cast<float>(forward_coupling(lambda, dt));
  const auto jl = pixels < static_cast<int64_t>(x.size()) ? static_cast<float>(forward_coupling(label_lambda, dt)) : 0.0f;
  for (size_t v = 0; v < x.size(); ++v) out[v] = (v < static_cast<size_t>(pixels) ? jd : jl) * static_cast<float>(x[v]);
}

void add_correlation_penalty(double lambda, std::span<const int32_t> edge_i, std::span<const int32_t> edge_j,
                             std::span<const double> edge_corr, std::span<const double> chain_means, int32_t nodes, int64_t samples,
                             std::span<float> g) {
  const size_t E = edge_i.size();
  if (samples < 0) throw InvalidArgument("correlation penalty: " + std::to_string(samples) + " samples per chain");
  if (samples == 1) return;
  if (nodes <= 0 || edge_j.size() != E || edge_corr.size() != E || g.size() < E || chain_means.empty() ||
      chain_means.size() % static_cast<size_t>(nodes) != 0) {
    throw InvalidArgument("correlation penalty: inconsistent sizes (" + std::to_string(E) + " edges, " + std::to_string(chain_means.size()) +
                          " chain means of " + std::to_string(nodes) + " nodes)");
  }
  const size_t B = chain_means.size() / static_cast<size_t>(nodes), n = static_cast<size_t>(nodes);
  for (size_t e = 0; e < E; ++e) {
    const auto i = static_cast<size_t>(edge_i[e]), j = static_cast<size_t>(edge_j[e]);
    if (i >= n || j >= n) throw InvalidArgument("correlation penalty: edge " + std::to_string(e) + " names a node out of range");
    double mm = 0;
    for (size_t c = 0; c < B; ++c) mm += chain_means[c * n + i] * chain_means[c * n + j];
    mm /= static_cast<double>(B);
    if (samples > 1) mm = (static_cast<double>(samples) * mm - edge_corr[e]) / static_cast<double>(samples - 1);
    g[e] += static_cast<float>(lambda * (mm - edge_corr[e]));
  }
}

void apply_forward_noise(std::span<int8_t> spins, double lambda, double dt, uint64_t seed, uint32_t item, uint32_t step,
                         uint32_t tag) {
  const double p = flip_probability(lambda, dt);
  // Compare 32-bit uniforms with a 32-bit threshold: P(flip) = threshold / 2^32, within 2^-32 of p.
  const auto threshold = static_cast<uint64_t>(std::llround(p * 4294967296.0));
  const rng::Key key = rng::make_key(seed, rng::kForwardNoise);
  for (size_t i = 0; i < spins.size(); i += 4) {
    const rng::Block b = rng::philox4x32_10(rng::Counter{item, static_cast<uint32_t>(i / 4), step, tag}, key);
    for (size_t q = 0; q < 4 && i + q < spins.size(); ++q) {
      if (rng::word(b, static_cast<uint32_t>(q)) < threshold) spins[i + q] = static_cast<int8_t>(-spins[i + q]);
    }
  }
}

double AcpController::update(double a) {
  if (!std::isfinite(a)) throw InvalidArgument("ACP: autocorrelation must be finite");
  // A measurement below 0 (the estimate's noise and its bias about 0) is read as 0, as the reference
  // code's max(0, ...) reads it (thrmlDenoising/step.py): below -3 eps the rule's factor turned
  // negative and switched the penalty off (helper-125).
  a = std::max(a, 0.0);
  const bool rising = !std::isnan(prev_) && a > prev_;
  if (a < eps_) {
    lambda_ *= 0.6 + 0.2 * a / eps_;
  } else if (rising) {
    lambda_ = std::max(lambda_ * (a >= 1.8 * eps_ ? 1.5 : 1.2), floor_);
  } else {
    lambda_ *= 0.95;
  }
  if (lambda_ < floor_) lambda_ = 0.0;
  prev_ = a;
  return lambda_;
}

}  // namespace pbit::dtm
