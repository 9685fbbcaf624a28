// LAMB as in FBGEMM v0.3.2 (lamb()): Adam moments, u = m_hat / (sqrt(v_hat) + eps) + wd * w, then
// a per-row trust ratio ||w|| / ||u|| scales the step: w <- w - lr * ratio * u. FBGEMM has no guard
// for ||u|| = 0 and neither do we (OPTIMIZERS.md), so such a row behaves as it would there.
#include <cmath>

#include "core/optimizer.h"
#include "core/optimizer_math.h"

namespace torchrec {
namespace {

class Lamb final : public TableOptimizer {
 public:
  Lamb(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  // The norms are summed in element order, as the one-pass rule would.
  void update_row(int64_t row, float* w_, const float* g_, float* u_, const OptimizerStep& step) override {
    float* __restrict m = state_row(0, row);
    float* __restrict v = state_row(1, row);
    float* __restrict w = w_;
    const float* __restrict g = g_;
    float* __restrict u = u_;
    const float b1 = step.beta1, b2 = step.beta2, a1 = step.one_minus_beta1, a2 = step.one_minus_beta2;
    const float eps = static_cast<float>(spec_.eps), wd = static_cast<float>(spec_.weight_decay);
    const float bias1 = step.bias1, bias2 = step.bias2;
    const int64_t dim = dim_;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      v[d] = b2 * v[d] + a2 * g[d] * g[d];
      u[d] = v[d] / bias2;
    }
    sqrt_in_place(u, dim);
    for (int64_t d = 0; d < dim; ++d) u[d] = (m[d] / bias1) / (u[d] + eps) + wd * w[d];
    float w_sq = 0.0f;
    float u_sq = 0.0f;
    for (int64_t d = 0; d < dim; ++d) {
      w_sq += w[d] * w[d];
      u_sq += u[d] * u[d];
    }
    const float ratio = std::sqrt(w_sq) / std::sqrt(u_sq);
    const float scale = step.lr * ratio;
    for (int64_t d = 0; d < dim; ++d) w[d] -= scale * u[d];
  }
};

}  // namespace

std::unique_ptr<TableOptimizer> make_lamb_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  return std::make_unique<Lamb>(spec, num_rows, dim);
}

}  // namespace torchrec
