#include "core/optimizer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/table_memory.h"

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
    state.push_back(
        kernels::allocate_table(num_rows_, state_specs_[i].per_element ? dim_ : 1, at::kFloat).zero_().view({-1}));
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

kernels::RowRule TableOptimizer::row_rule(const OptimizerStep& step) {
  ensure_state();
  kernels::RowRule r;
  switch (spec_.kind) {
    case OptimizerKind::Sgd: r.kind = kernels::RuleKind::Sgd; break;
    case OptimizerKind::Adagrad: r.kind = kernels::RuleKind::Adagrad; break;
    case OptimizerKind::RowwiseAdagrad: r.kind = kernels::RuleKind::RowwiseAdagrad; break;
    case OptimizerKind::Adam: r.kind = kernels::RuleKind::Adam; break;
    case OptimizerKind::PartialRowwiseAdam: r.kind = kernels::RuleKind::PartialRowwiseAdam; break;
    case OptimizerKind::Lamb: r.kind = kernels::RuleKind::Lamb; break;
  }
  switch (spec_.weight_decay_mode) {
    case WeightDecayMode::None: r.decay = kernels::RuleDecay::None; break;
    case WeightDecayMode::L2: r.decay = kernels::RuleDecay::L2; break;
    case WeightDecayMode::Decoupled: r.decay = kernels::RuleDecay::Decoupled; break;
  }
  r.lr = step.lr;
  r.eps = static_cast<float>(spec_.eps);
  r.weight_decay = static_cast<float>(spec_.weight_decay);
  r.beta1 = step.beta1;
  r.beta2 = step.beta2;
  r.one_minus_beta1 = step.one_minus_beta1;
  r.one_minus_beta2 = step.one_minus_beta2;
  r.bias1 = step.bias1;
  r.bias2 = step.bias2;
  for (size_t i = 0; i < state_ptr_.size() && i < 2; ++i) {
    r.state[i] = state_ptr_[i];
    r.state_per_element[i] = state_specs_[i].per_element;
  }
  return r;
}

std::unique_ptr<TableOptimizer> make_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim) {
  return std::make_unique<TableOptimizer>(spec, num_rows, dim);
}

}  // namespace torchrec
