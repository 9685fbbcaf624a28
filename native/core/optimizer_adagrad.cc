// EXACT_ADAGRAD (element-wise accumulator) and EXACT_ROWWISE_ADAGRAD (one accumulator per row),
// as in FBGEMM v0.3.2's embedding_backward_code_generator.py (adagrad(), rowwise_adagrad()).
#include <cmath>

#include "core/optimizer.h"
#include "core/optimizer_math.h"

namespace torchrec {
namespace {

// m <- m + g^2 ; w <- w - lr * g / (sqrt(m) + eps). No weight decay in FBGEMM's exact Adagrad.
class ExactAdagrad final : public TableOptimizer {
 public:
  ExactAdagrad(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  void update_row(int64_t row, float* w_, const float* g_, float* root_, const OptimizerStep& step) override {
    float* __restrict m = state_row(0, row);
    float* __restrict w = w_;
    const float* __restrict g = g_;
    float* __restrict root = root_;
    const float lr = step.lr;
    const float eps = static_cast<float>(spec_.eps);
    const int64_t dim = dim_;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] += g[d] * g[d];
      root[d] = m[d];
    }
    sqrt_in_place(root, dim);
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * g[d] / (root[d] + eps);
  }
};

// g~ = g + wd*w (L2 only); m <- m + mean(g~^2); mult = lr / (sqrt(m) + eps);
// w <- corr * w - mult * g, corr = 1 - mult*wd (L2) | 1 - lr*wd (decoupled) | 1.
// Every weight-decay term uses the pre-update row. FBGEMM's fp32 CPU fast path (GenerateSparseAdaGrad)
// ignores weight decay; we follow the templated rule, which honours it (OPTIMIZERS.md).
class ExactRowwiseAdagrad final : public TableOptimizer {
 public:
  ExactRowwiseAdagrad(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  void update_row(int64_t row, float* w_, const float* g_, float* scratch, const OptimizerStep& step) override {
    float* __restrict w = w_;
    const float* __restrict g = g_;
    const float wd = static_cast<float>(spec_.weight_decay);
    const bool l2 = spec_.weight_decay_mode == WeightDecayMode::L2;
    if (l2) {
      for (int64_t d = 0; d < dim_; ++d) scratch[d] = g[d] + wd * w[d];
    }
    const float sum_sq = sum_of_squares(l2 ? scratch : g, dim_);
    float* m = state_row(0, row);
    *m += sum_sq / static_cast<float>(dim_);
    const float mult = step.lr / (std::sqrt(*m) + static_cast<float>(spec_.eps));
    float corr = 1.0f;
    if (spec_.weight_decay_mode == WeightDecayMode::L2) corr = 1.0f - mult * wd;
    if (spec_.weight_decay_mode == WeightDecayMode::Decoupled) corr = 1.0f - step.lr * wd;
    const int64_t dim = dim_;
    for (int64_t d = 0; d < dim; ++d) w[d] = corr * w[d] - mult * g[d];
  }
};

}  // namespace

std::unique_ptr<TableOptimizer> make_adagrad_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  if (spec.kind == OptimizerKind::RowwiseAdagrad) return std::make_unique<ExactRowwiseAdagrad>(spec, num_rows, dim);
  return std::make_unique<ExactAdagrad>(spec, num_rows, dim);
}

}  // namespace torchrec
