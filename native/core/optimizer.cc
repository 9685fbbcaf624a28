#include "core/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace torchrec {

TableOptimizer::TableOptimizer(OptimizerSpec spec, int64_t num_rows, int64_t dim)
    : spec_(std::move(spec)), num_rows_(num_rows), dim_(dim), state_specs_(optimizer_state_layout(spec_.kind)) {}

int64_t TableOptimizer::state_numel(size_t index) const {
  return state_specs_.at(index).per_element ? num_rows_ * dim_ : num_rows_;
}

void TableOptimizer::ensure_state() {
  if (!state_.empty() || state_specs_.empty()) return;
  std::vector<at::Tensor> state;
  std::vector<float*> ptrs;
  for (size_t i = 0; i < state_specs_.size(); ++i) {
    state.push_back(at::zeros({state_numel(i)}, at::kFloat));
    ptrs.push_back(state.back().data_ptr<float>());
  }
  state_ = std::move(state);
  state_ptr_ = std::move(ptrs);
}

at::Tensor TableOptimizer::state_copy(size_t index) const {
  if (state_.empty()) return at::zeros({state_numel(index)}, at::kFloat);
  return state_.at(index).clone();
}

void TableOptimizer::set_state(size_t index, const float* data, int64_t numel) {
  const int64_t expected = state_numel(index);
  if (numel != expected) {
    fail(ErrorCode::Shape, "optimizer state \"", state_specs_.at(index).name, "\" has ", expected, " values (",
         state_specs_[index].per_element ? "[num_embeddings][embedding_dim]" : "[num_embeddings]", "), got ", numel);
  }
  ensure_state();
  std::copy(data, data + numel, state_ptr_[index]);
}

void TableOptimizer::prefetch_state(int64_t row) const {
  if (state_ptr_.empty()) return;
  for (size_t i = 0; i < state_specs_.size(); ++i) {
    if (!state_specs_[i].per_element) {
      __builtin_prefetch(state_ptr_[i] + row, 1);
      continue;
    }
    const char* p = reinterpret_cast<const char*>(state_ptr_[i] + row * dim_);
    for (int64_t off = 0; off < dim_ * static_cast<int64_t>(sizeof(float)); off += 64) __builtin_prefetch(p + off, 1);
  }
}

std::unique_ptr<TableOptimizer> make_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  switch (spec.kind) {
    case OptimizerKind::Sgd: return make_sgd_optimizer(spec, num_rows, dim);
    case OptimizerKind::Adagrad:
    case OptimizerKind::RowwiseAdagrad: return make_adagrad_optimizer(spec, num_rows, dim);
    case OptimizerKind::Adam:
    case OptimizerKind::PartialRowwiseAdam: return make_adam_optimizer(spec, num_rows, dim);
    case OptimizerKind::Lamb: return make_lamb_optimizer(spec, num_rows, dim);
  }
  fail(ErrorCode::InvalidConfig, "unknown optimizer kind");
}

}  // namespace torchrec
