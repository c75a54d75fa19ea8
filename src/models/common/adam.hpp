// Adam (Kingma & Ba 2015), the one update the DTM, EqProp and p-DNN trainers share.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace pbit::detail {

/// Which way a trainer's gradient points: the DTM ascends its log-likelihood, EqProp and the p-DNN
/// descend their costs.
enum class AdamDirection { ascend, descend };

/// One Adam update, the `step`-th (1, 2, ...) of this state: for every q,
///   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
///   w -/+= lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + 1e-8),
/// in double arithmetic, m, v and w rounded to their own types once. The bias corrections use the
/// step count, so a constant gradient g moves w by lr g / (|g| + 1e-8) at every step. `m`, `v` and
/// `g` hold as many values as `w` (the trainers size them together).
template <class W, class G, class S>
void adam_update(std::span<W> w, std::span<const G> g, std::span<S> m, std::span<S> v, double lr, double b1, double b2, int64_t step,
                 AdamDirection dir) {
  const double c1 = 1.0 - std::pow(b1, static_cast<double>(step)), c2 = 1.0 - std::pow(b2, static_cast<double>(step));
  const double signed_lr = dir == AdamDirection::ascend ? -lr : lr;
  for (size_t q = 0; q < w.size(); ++q) {
    const double gq = static_cast<double>(g[q]);
    m[q] = static_cast<S>(b1 * static_cast<double>(m[q]) + (1.0 - b1) * gq);
    v[q] = static_cast<S>(b2 * static_cast<double>(v[q]) + (1.0 - b2) * gq * gq);
    const double m_hat = static_cast<double>(m[q]) / c1, root_v_hat = std::sqrt(static_cast<double>(v[q]) / c2);
    w[q] = static_cast<W>(static_cast<double>(w[q]) - signed_lr * m_hat / (root_v_hat + 1e-8));
  }
}

}  // namespace pbit::detail
