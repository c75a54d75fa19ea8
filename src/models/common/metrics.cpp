#include "pbit/models/metrics.hpp"

// GCC 12 reports a false -Wmaybe-uninitialized inside its AVX-512 intrinsic headers, used by Eigen.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Eigen's products split their work over OpenMP threads, and the sums' order (so the last bits of an
// FID) then depends on the thread count; metrics must not (an MPI rank often has one thread).
// Every file of pbit's that includes Eigen sets this (pdnn.cpp too), so the templates they share
// are instantiated alike.
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include "pbit/error.hpp"
#include "pbit/core/rng.hpp"
#include "util/memory.hpp"

namespace pbit::metrics {

std::vector<float> random_projection(int32_t num_nodes, int32_t dims, uint64_t seed) {
  if (num_nodes < 1 || dims < 1) throw InvalidArgument("random_projection: need num_nodes >= 1 and dims >= 1");
  detail::check_memory(4.0 * dims * num_nodes, "a random projection of " + std::to_string(num_nodes) + " nodes onto " + std::to_string(dims) +
                                                   " dimensions");
  std::vector<float> P(static_cast<size_t>(dims) * num_nodes);
  rng::PhiloxStream rs(seed, rng::kProjection);
  const float s = 1.0f / std::sqrt(static_cast<float>(num_nodes));
  for (float& x : P) x = (rs.next_u32() & 1u) ? s : -s;
  return P;
}

std::vector<double> project(std::span<const float> P, int32_t dims, std::span<const int8_t> states, int32_t num_nodes) {
  if (P.size() != static_cast<size_t>(dims) * num_nodes || states.size() % num_nodes) {
    throw InvalidArgument("project: projection / state sizes do not match");
  }
  const size_t count = states.size() / num_nodes;
  std::vector<double> y(count * dims, 0.0);
  for (size_t c = 0; c < count; ++c)
    for (int32_t d = 0; d < dims; ++d) {
      double acc = 0;
      for (int32_t i = 0; i < num_nodes; ++i) acc += P[static_cast<size_t>(d) * num_nodes + i] * states[c * num_nodes + i];
      y[c * dims + d] = acc;
    }
  return y;
}

std::vector<double> autocorrelation(std::span<const double> y, int32_t chains, int32_t times, int32_t dims, int32_t max_lag,
                                    int32_t group) {
  if (chains < 1 || times < 1 || dims < 1 || y.size() != static_cast<size_t>(chains) * times * dims) {
    throw InvalidArgument("autocorrelation: y must be chains x times x dims");
  }
  if (max_lag < 0 || max_lag >= times) throw InvalidArgument("autocorrelation: max_lag must be in [0, times)");
  if (group == 0) group = chains;
  if (group < 1 || chains % group) throw InvalidArgument("autocorrelation: chains must be a multiple of the group size");
  auto at = [&](int32_t c, int32_t t, int32_t d) { return y[(static_cast<size_t>(c) * times + t) * dims + d]; };
  const int32_t ngroups = chains / group;
  std::vector<double> mu(static_cast<size_t>(ngroups) * dims, 0.0);  // per group and dimension
  for (int32_t c = 0; c < chains; ++c)
    for (int32_t t = 0; t < times; ++t)
      for (int32_t d = 0; d < dims; ++d) mu[static_cast<size_t>(c / group) * dims + d] += at(c, t, d);
  for (double& m : mu) m /= static_cast<double>(group) * times;
  auto dev = [&](int32_t c, int32_t t, int32_t d) { return at(c, t, d) - mu[static_cast<size_t>(c / group) * dims + d]; };
  double var = 0;
  for (int32_t c = 0; c < chains; ++c)
    for (int32_t t = 0; t < times; ++t)
      for (int32_t d = 0; d < dims; ++d) var += dev(c, t, d) * dev(c, t, d);
  var /= static_cast<double>(chains) * times;
  std::vector<double> r(static_cast<size_t>(max_lag) + 1, 0.0);
  if (var == 0) {
    r[0] = 1.0;
    return r;  // constant series: no correlation to measure
  }
  for (int32_t k = 0; k <= max_lag; ++k) {
    double acc = 0;
    for (int32_t c = 0; c < chains; ++c)
      for (int32_t t = 0; t + k < times; ++t)
        for (int32_t d = 0; d < dims; ++d) acc += dev(c, t, d) * dev(c, t + k, d);
    r[k] = acc / (static_cast<double>(chains) * (times - k)) / var;
  }
  return r;
}

double mixing_time(std::span<const double> r, double lo, double hi) {
  if (r.size() < 2) return std::numeric_limits<double>::infinity();  // no lag measured
  for (size_t k = 0; k < r.size(); ++k) {  // (a NaN read as "mixed within one lag": helper-109)
    if (!std::isfinite(r[k])) throw InvalidArgument("mixing_time: r[" + std::to_string(k) + "] is not a finite number");
  }
  if (r[1] <= lo) return 1.0;  // mixed within one lag: that lag bounds it (callers scale it by their stride)
  // The fit stops at the first lag where r reaches lo: beyond it r is noise around 0, whose excursions
  // above lo (a few at long lags) would otherwise be fitted as a slow decay.
  size_t end = 1;
  while (end < r.size() && r[end] > lo) ++end;
  double sxx = 0, sxy = 0;
  int n = 0;
  for (size_t k = 1; k < end; ++k) {
    if (r[k] < hi) {
      sxx += static_cast<double>(k) * k;
      sxy += static_cast<double>(k) * std::log(r[k]);
      ++n;
    }
  }
  if (n == 0) {
    if (end == r.size()) return std::numeric_limits<double>::infinity();  // never decays below hi
    // From hi or more straight to lo or less in one lag: no decay to fit; the lag it took bounds it.
    return static_cast<double>(end);
  }
  const double slope = sxy / sxx;  // log r = slope * k
  return slope < 0 ? -1.0 / slope : std::numeric_limits<double>::infinity();
}

Gaussian fit_gaussian(std::span<const double> f, int64_t n, int32_t d) {
  if (n < 2 || d < 1 || f.size() != static_cast<size_t>(n) * d) throw InvalidArgument("fit_gaussian: need n >= 2 vectors of d values");
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> X(f.data(), n, d);
  const Eigen::RowVectorXd mu = X.colwise().mean();
  const Eigen::MatrixXd C = X.rowwise() - mu;
  const Eigen::MatrixXd cov = (C.transpose() * C) / static_cast<double>(n - 1);
  Gaussian g;
  g.dims = d;
  g.mean.assign(mu.data(), mu.data() + d);
  g.cov.resize(static_cast<size_t>(d) * d);
  for (int32_t i = 0; i < d; ++i)
    for (int32_t j = 0; j < d; ++j) g.cov[static_cast<size_t>(i) * d + j] = cov(i, j);
  return g;
}

namespace {

Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& A) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (A + A.transpose()));
  const Eigen::VectorXd ev = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * ev.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  if (a.dims != b.dims) throw InvalidArgument("frechet_distance: Gaussians of different dimension");
  if (a.dims < 1) throw InvalidArgument("frechet_distance: Gaussians of dimension " + std::to_string(a.dims));
  const int32_t d = a.dims;
  // A Gaussian made by hand: its mean and covariance must have the sizes `dims` says (helper-109).
  for (const Gaussian* g : {&a, &b}) {
    if (static_cast<int64_t>(g->mean.size()) != d || static_cast<int64_t>(g->cov.size()) != static_cast<int64_t>(d) * d) {
      throw InvalidArgument("frechet_distance: a Gaussian of dimension " + std::to_string(d) + " with " + std::to_string(g->mean.size()) +
                            " means and " + std::to_string(g->cov.size()) + " covariances (" + std::to_string(d) + " and " +
                            std::to_string(static_cast<int64_t>(d) * d) + " expected)");
    }
  }
  Eigen::Map<const Eigen::VectorXd> m1(a.mean.data(), d), m2(b.mean.data(), d);
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> S1(a.cov.data(), d, d), S2(b.cov.data(), d, d);
  const Eigen::MatrixXd r1 = sqrt_psd(S1);
  const Eigen::MatrixXd inner = r1 * S2 * r1;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (inner + inner.transpose()), Eigen::EigenvaluesOnly);
  const double tr_sqrt = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double fd = (m1 - m2).squaredNorm() + S1.trace() + S2.trace() - 2.0 * tr_sqrt;
  return std::max(fd, 0.0);
}

}  // namespace pbit::metrics
