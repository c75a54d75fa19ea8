// Sampler diagnostics and sample-quality metrics.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace pbit::metrics {

/// A fixed random projection of N-spin states to `dims` dimensions: entries +-1/sqrt(N), seeded.
/// Row-major dims x N.
std::vector<float> random_projection(int32_t num_nodes, int32_t dims, uint64_t seed);

/// y = P s for each of `count` states (count x N spins, chain-major) -> count x dims.
std::vector<double> project(std::span<const float> P, int32_t dims, std::span<const int8_t> states, int32_t num_nodes);

/// Normalised autocorrelation r[k] = E[(y[j] - mu)(y[j+k] - mu)] / E[(y[j] - mu)^2] for k = 0..max_lag,
/// where y is [chains][times][dims] and the expectation runs over chains, start times j and dimensions.
/// mu is the per-dimension mean over the chains of one group and all times: consecutive runs of
/// `group` chains sample the same distribution (e.g. the same conditioning image of a DTM step), so
/// their common mean is the reference a well-mixed chain fluctuates around. group = 0 means all chains
/// form one group. r[0] = 1.
std::vector<double> autocorrelation(std::span<const double> y, int32_t chains, int32_t times, int32_t dims, int32_t max_lag,
                                    int32_t group = 0);

/// Mixing time from an exponential fit r[k] ~ exp(-k / tau) to the lags where r < `hi` before the
/// first lag where r <= `lo` (least squares on log r through the origin); lags after that one are
/// noise around 0 and are not fitted. Where there is no decay to fit it returns the lag that bounds
/// it: 1 when r is already at or below `lo` at lag 1 (a caller whose lags are k sweeps apart then
/// reports k, not 0), and the first lag at or below `lo` when r falls from `hi` or more to `lo` or less
/// in one lag; +infinity when r never decays below `hi` or has no lag past 0. InvalidArgument for a
/// value of r that is not finite.
double mixing_time(std::span<const double> r, double lo = 0.05, double hi = 0.95);

/// Mean and covariance (unbiased) of `n` feature vectors of dimension d (row-major n x d).
struct Gaussian {
  std::vector<double> mean;
  std::vector<double> cov;  ///< d x d row-major
  int32_t dims = 0;
};
Gaussian fit_gaussian(std::span<const double> features, int64_t n, int32_t d);

/// Frechet distance between Gaussians: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2),
/// computed with Eigen's symmetric eigensolver (negative round-off eigenvalues clipped to 0).
/// InvalidArgument unless both have the same dims >= 1 and a mean and covariance of those sizes.
double frechet_distance(const Gaussian& a, const Gaussian& b);

}  // namespace pbit::metrics
