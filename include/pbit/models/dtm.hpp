// Building blocks of Denoising Thermodynamic Models (Jelincic et al., arXiv 2510.23972, 2025).
//
// A DTM chains T energy-based models; step t models P(x^{t-1} | x^t). The binary forward process
// resamples each bit uniformly with probability 1 - exp(-lambda dt) per step, on the time grid
// t_k = -ln(1 - k / T) (so the last step is pure noise). The exact reverse coupling between x^{t-1}_i
// and x^t_i is J_f = -1/2 ln tanh(lambda dt / 2), applied in a sampler as the per-chain field
// J_f x^t_i on data node i.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace pbit::dtm {

/// t_k = -ln(1 - k / T) for k = 0..T; t_T is +infinity.
std::vector<double> time_grid(int32_t T);

/// Probability that one forward step of length dt flips a bit: (1 - exp(-lambda dt)) / 2.
double flip_probability(double lambda, double dt);

/// The reverse coupling J_f = -1/2 ln tanh(lambda dt / 2): +infinity for dt = 0, 0 for dt = infinity.
double forward_coupling(double lambda, double dt);

/// The reverse field J_f x^t_i that conditions step t's model on x^t, for a visible state of `pixels`
/// data spins followed by label spins: each group at the coupling of its own forward rate (`lambda`
/// for the data, `label_lambda` for the labels) over a step of length dt. `out` gets x.size() values.
void reverse_field(std::span<const int8_t> x, int32_t pixels, double lambda, double label_lambda, double dt, std::span<float> out);

/// The correlation penalty's term of the coupling gradient (ascent), added to g[e] for each edge
/// (edge_i[e], edge_j[e]): lambda (mean over chains c of <s_i>_c <s_j>_c - <s_i s_j>), where
/// chain_means[c * nodes + i] = m_ci is chain c's mean of s_i over its `samples` samples (given
/// that chain's x^t) and edge_corr[e] the negative phase's <s_i s_j> over all chains and samples. It
/// lowers the total correlation of each conditional (REFERENCES.md section 2). The product of means
/// is estimated without the bias a chain's own samples add (m_ci m_cj holds their s_i s_j / S:
/// the penalty came out (S - 1) / S of its size, half at S = 2): mean over c of
/// (S m_ci m_cj - <s_i s_j>_c) / (S - 1), exact for independent samples (correlated ones still
/// shrink it: space them further apart). samples = 0: the means are exact (no correction);
/// samples = 1: one sample tells nothing of the product of means, and the term is 0.
void add_correlation_penalty(double lambda, std::span<const int32_t> edge_i, std::span<const int32_t> edge_j,
                             std::span<const double> edge_corr, std::span<const double> chain_means, int32_t nodes, int64_t samples,
                             std::span<float> g);

/// Applies one forward step in place to `spins` (+-1): each spin flips with flip_probability(lambda, dt),
/// drawn from Philox keyed by (seed, kForwardNoise) with counter (item, i / 4, step, tag), so the
/// noise is reproducible per (seed, item, node, step).
void apply_forward_noise(std::span<int8_t> spins, double lambda, double dt, uint64_t seed, uint32_t item, uint32_t step,
                         uint32_t tag = 0);

/// The adaptive correlation penalty's controller (the replication's rule, REFERENCES.md section 2).
/// Given the autocorrelation a measured at the training lag and the previous measurement a':
///   a < eps:          lambda <- lambda (0.6 + 0.2 a / eps)
///   a > a':           lambda <- 1.2 lambda (1.5 lambda if a >= 1.8 eps)
///   otherwise:        lambda <- 0.95 lambda
/// and a lambda that falls below the floor (0.001) becomes 0. pbit's reading of two details the rule
/// leaves open: an increase starts from at least the floor, so a penalty that reached 0 can come back;
/// and a' for the first update is the untrained step's measurement, as the replication measures before
/// it trains (Dtm::train takes it; an update with no a' counts as "not increasing", which took the
/// default lambda0, the floor, to 0 after one epoch).
class AcpController {
 public:
  explicit AcpController(double lambda0 = 0.0, double eps = 0.016, double floor = 0.001)
      : lambda_(lambda0), eps_(eps), floor_(floor) {}
  /// Feeds one autocorrelation measurement (one below 0 read as 0, as the reference code reads it);
  /// returns the new lambda.
  double update(double a);
  double lambda() const { return lambda_; }
  double previous() const { return prev_; }
  double eps() const { return eps_; }
  void restore(double lambda, double previous) {  // (a previous below 0 as update reads it: 0)
    lambda_ = lambda;
    prev_ = std::isnan(previous) ? previous : std::max(previous, 0.0);
  }

 private:
  double lambda_, eps_, floor_;
  double prev_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace pbit::dtm
