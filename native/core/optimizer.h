// Fused sparse optimizers with FBGEMM's "exact" rules (test/fixtures/golden/OPTIMIZERS.md). One
// TableOptimizer per table owns that table's state (fp32 even for fp16 tables) and hands the CPU
// backward kernel each step's rule as data (row_rule); the kernel groups duplicate ids and applies
// the rule once per touched row, from several threads on distinct rows. The rules' arithmetic lives
// in kernels/sparse_backward_rows.h, compiled once per instruction set.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/optimizer_spec.h"
#include "kernels/row_rule.h"

namespace torchrec {

class TableOptimizer {
 public:
  // The state tensors are those optimizer_state_layout(spec.kind) names.
  TableOptimizer(OptimizerSpec spec, int64_t num_rows, int64_t dim);

  const std::vector<StateSpec>& state_specs() const { return state_specs_; }

  // State is allocated (zero, as FBGEMM's) on first use, so inference-only users who keep an
  // optimizer in their config pay no memory for it. Tables from 2 MiB of state on sit on huge pages
  // (kernels/table_memory.h): rows are updated at random, like the weights.
  void ensure_state();
  // A float32 copy of one state tensor, flattened ([N*D] or [N]); zeros if never allocated.
  at::Tensor state_copy(size_t index) const;
  // Values are the caller's to check (check_state_values); only the size is checked here.
  void set_state(size_t index, const float* data, int64_t numel);
  int64_t state_numel(size_t index) const;

  // Step `step`'s rule for this table, pointing at its state (allocated here if it was not yet).
  kernels::RowRule row_rule(const OptimizerStep& step);

 private:
  OptimizerSpec spec_;
  int64_t num_rows_;
  int64_t dim_;
  const std::vector<StateSpec>& state_specs_;
  std::vector<at::Tensor> state_;
  std::vector<float*> state_ptr_;
};

std::unique_ptr<TableOptimizer> make_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);

}  // namespace torchrec
