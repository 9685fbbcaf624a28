// EXACT_SGD: w <- w - lr * g, once per touched row with the duplicates already summed.
#include "core/optimizer.h"

namespace torchrec {
namespace {

class ExactSgd final : public TableOptimizer {
 public:
  ExactSgd(const OptimizerSpec& spec, int64_t rows, int64_t dim) : TableOptimizer(spec, rows, dim) {}

  void update_row(int64_t, float* w_, const float* g_, float*, const OptimizerStep& step) override {
    float* __restrict w = w_;
    const float* __restrict g = g_;
    const float lr = step.lr;
    const int64_t dim = dim_;
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * g[d];
  }
};

}  // namespace

std::unique_ptr<TableOptimizer> make_sgd_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  return std::make_unique<ExactSgd>(spec, num_rows, dim);
}

}  // namespace torchrec
