// The dense CPU store: each table one [N][D] fp32 or fp16 tensor (on huge pages when large), its fused
// optimizer a TableOptimizer, lookups and updates the fused kernels of native/kernels.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/optimizer.h"
#include "core/table_store.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/sparse_backward_cpu.h"

namespace torchrec {

// Table `spec`'s initial weights on the CPU: uniform in [init_min, init_max] (kernels::fill_hashed of
// (seed, origin.table, origin.first_row + row, origin.first_col + column)). ERR_OUT_OF_MEMORY naming
// the table when it cannot be allocated.
at::Tensor draw_initial_table(const TableSpec& spec, uint64_t seed, TableOrigin origin);

// Dense [N][D] fp32/fp16 tables (weights[t] is table t's rows, contiguous, on the CPU) as the pooled
// forward reads them: per table, the kernel feature fields that never change (rows, dtype, shape).
// A store builds them once: its tables' memory never moves. origins[t] (when given) marks the
// row-wise shards whose fp16 results stay fp32 partial sums.
std::vector<kernels::PooledFeature> dense_table_features(const std::vector<TableSpec>& tables,
                                                         const std::vector<at::Tensor>& weights,
                                                         const std::vector<TableOrigin>& origins = {});

// The pooled forward over such tables: the one forward of every store whose rows are plain host
// memory, owned or mapped.
void dense_pooled_forward(const std::vector<kernels::PooledFeature>& table_features, const LookupPlan& plan,
                          const PlannedBatch& planned, float* out);

class CpuTableStore final : public TableStore {
 public:
  // Weights drawn by draw_initial_table; origins[t] places table t in the whole collection (empty:
  // table t is the collection's table t, whole). optimizers[t]: table t's optimizer, or nullopt.
  // ERR_OUT_OF_MEMORY naming the table when one cannot be allocated.
  // stochastic_rounding: fp16 rows are written by the optimizers with FBGEMM's stochastic rounding,
  // its bits keyed by (seed, step, origin table, global row, column); false: round to nearest.
  CpuTableStore(const std::vector<TableSpec>& tables, const std::vector<std::optional<OptimizerSpec>>& optimizers,
                uint64_t seed, const std::vector<TableOrigin>& origins = {}, bool stochastic_rounding = true);

  std::string device() const override { return "cpu"; }
  void forward(const LookupPlan& plan, const PlannedBatch& batch, float* out) const override;
  bool pools_managed_ids() const override { return true; }         // dense_pooled_forward does
  bool checks_ids_while_pooling() const override { return true; }  // so does it
  void backward(const LookupPlan& plan, const PlannedBatch& batch, const float* grad,
                const std::vector<OptimizerStep>& steps) override;
  at::Tensor read_rows(int64_t table, int64_t begin, int64_t count) const override;
  void write_rows(int64_t table, int64_t begin, const at::Tensor& rows) override;
  const void* host_rows(int64_t table) const override { return weights_.at(table).data_ptr(); }
  at::Tensor read_state(int64_t table, size_t index) const override;
  void write_state(int64_t table, size_t index, const float* data, int64_t numel) override;
  void allocate_state(int64_t table) override;
  double mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const override;

 private:
  std::vector<TableSpec> tables_;
  std::vector<TableOrigin> origins_;
  uint64_t seed_ = 0;
  bool stochastic_rounding_ = true;
  std::vector<at::Tensor> weights_;
  std::vector<kernels::PooledFeature> table_features_;       // dense_table_features(weights_)
  std::vector<std::unique_ptr<TableOptimizer>> optimizers_;  // null: no optimizer
  kernels::BackwardWorkspace workspace_;                     // backward's, reused (backward holds the write lock)
};

}  // namespace torchrec
