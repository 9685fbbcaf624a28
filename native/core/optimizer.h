// Fused sparse optimizers with FBGEMM's "exact" rules (test/fixtures/golden/OPTIMIZERS.md). One
// TableOptimizer per table owns that table's state (fp32 even for fp16 tables) and updates one
// row at a time from the row's aggregated gradient; the sparse backward kernel groups duplicate
// ids and calls update_row once per touched row, from several threads on distinct rows.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/optimizer_spec.h"

namespace torchrec {

class TableOptimizer {
 public:
  // The state tensors are those optimizer_state_layout(spec.kind) names.
  TableOptimizer(OptimizerSpec spec, int64_t num_rows, int64_t dim);
  virtual ~TableOptimizer() = default;

  const std::vector<StateSpec>& state_specs() const { return state_specs_; }

  // State is allocated (zero, as FBGEMM's) on first use, so inference-only users who keep an
  // optimizer in their config pay no memory for it.
  void ensure_state();
  // A float32 copy of one state tensor, flattened ([N*D] or [N]); zeros if never allocated.
  at::Tensor state_copy(size_t index) const;
  // Values are the caller's to check (check_state_values); only the size is checked here.
  void set_state(size_t index, const float* data, int64_t numel);
  int64_t state_numel(size_t index) const;

  // Starts loading row `row`'s state into the cache (a hint; no-op before the state exists).
  void prefetch_state(int64_t row) const;

  // Updates row `row` in place. `w` is the row widened to fp32 (the pre-update value on entry),
  // `g` the row's aggregated gradient, `scratch` dim() floats the rule may use. Rows handed to
  // concurrent calls are distinct, so the row's state slots are private to the caller.
  virtual void update_row(int64_t row, float* w, const float* g, float* scratch, const OptimizerStep& step) = 0;

 protected:
  float* state_row(size_t index, int64_t row) {
    return state_ptr_[index] + (state_specs_[index].per_element ? row * dim_ : row);
  }

  OptimizerSpec spec_;
  int64_t num_rows_;
  int64_t dim_;

 private:
  const std::vector<StateSpec>& state_specs_;
  std::vector<at::Tensor> state_;
  std::vector<float*> state_ptr_;
};

std::unique_ptr<TableOptimizer> make_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);

// Rule families, one file each (optimizer_sgd.cc, optimizer_adagrad.cc, optimizer_adam.cc,
// optimizer_lamb.cc); make_optimizer dispatches to them.
std::unique_ptr<TableOptimizer> make_sgd_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_adagrad_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_adam_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_lamb_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);

}  // namespace torchrec
