// ADAM and PARTIAL_ROWWISE_ADAM as in FBGEMM v0.3.2 (adam(), partial_rowwise_adam()): lazy (only
// touched rows and their moments move), bias correction with the global step t, and decoupled
// weight decay scaled by lr: w <- w - lr * ((m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps) + wd * w).
#include <cmath>

#include "core/optimizer.h"
#include "core/optimizer_math.h"

namespace torchrec {
namespace {

class Adam final : public TableOptimizer {
 public:
  Adam(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  // Three vectorizable passes (moments, square roots, weights); per element the same operations in
  // the same order as the one-line rule.
  void update_row(int64_t row, float* w_, const float* g_, float* root_, const OptimizerStep& step) override {
    float* __restrict m = state_row(0, row);
    float* __restrict v = state_row(1, row);
    float* __restrict w = w_;
    const float* __restrict g = g_;
    float* __restrict root = root_;
    const float b1 = step.beta1, b2 = step.beta2, a1 = step.one_minus_beta1, a2 = step.one_minus_beta2;
    const float eps = static_cast<float>(spec_.eps), wd = static_cast<float>(spec_.weight_decay);
    const float lr = step.lr, bias1 = step.bias1, bias2 = step.bias2;
    const int64_t dim = dim_;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      v[d] = b2 * v[d] + a2 * g[d] * g[d];
      root[d] = v[d] / bias2;
    }
    sqrt_in_place(root, dim);
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * ((m[d] / bias1) / (root[d] + eps) + wd * w[d]);
  }
};

// The second moment is one scalar per row: v <- b2*v + (1-b2) * mean(g^2).
class PartialRowwiseAdam final : public TableOptimizer {
 public:
  PartialRowwiseAdam(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  void update_row(int64_t row, float* w_, const float* g_, float*, const OptimizerStep& step) override {
    float* __restrict w = w_;
    const float* __restrict g = g_;
    const float b1 = step.beta1, b2 = step.beta2, a1 = step.one_minus_beta1, a2 = step.one_minus_beta2;
    const float eps = static_cast<float>(spec_.eps), wd = static_cast<float>(spec_.weight_decay);
    const float lr = step.lr, bias1 = step.bias1;
    const int64_t dim = dim_;
    const float sum_sq = sum_of_squares(g, dim);
    float* v = state_row(1, row);
    *v = b2 * *v + a2 * (sum_sq / static_cast<float>(dim));
    const float denom = std::sqrt(*v / step.bias2) + eps;
    float* __restrict m = state_row(0, row);
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      w[d] -= lr * ((m[d] / bias1) / denom + wd * w[d]);
    }
  }
};

}  // namespace

std::unique_ptr<TableOptimizer> make_adam_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  if (spec.kind == OptimizerKind::PartialRowwiseAdam) return std::make_unique<PartialRowwiseAdam>(spec, num_rows, dim);
  return std::make_unique<Adam>(spec, num_rows, dim);
}

}  // namespace torchrec
