// The dense CPU store: each table one [N][D] fp32 or fp16 tensor (on huge pages when large), its fused
// optimizer a TableOptimizer, lookups and updates the fused kernels of native/kernels.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/optimizer.h"
#include "core/table_store.h"

namespace torchrec {

// Table `spec`'s initial weights on the CPU: uniform in [init_min, init_max], drawn from `gen` (tables
// draw in order from one generator). ERR_OUT_OF_MEMORY naming the table when it cannot be allocated.
at::Tensor draw_initial_table(const TableSpec& spec, at::Generator& gen);

class CpuTableStore final : public TableStore {
 public:
  // Weights drawn uniformly in [init_min, init_max] from one generator seeded with `seed`, tables in
  // order. optimizers[t]: table t's optimizer, or nullopt. ERR_OUT_OF_MEMORY naming the table when
  // one cannot be allocated.
  CpuTableStore(const std::vector<TableSpec>& tables, const std::vector<std::optional<OptimizerSpec>>& optimizers,
                uint64_t seed);

  std::string device() const override { return "cpu"; }
  void forward(const LookupPlan& plan, const PlannedBatch& batch, float* out) const override;
  void backward(const LookupPlan& plan, const PlannedBatch& batch, const float* grad,
                const std::vector<OptimizerStep>& steps) override;
  at::Tensor read_rows(int64_t table, int64_t begin, int64_t count) const override;
  void write_rows(int64_t table, int64_t begin, const at::Tensor& rows) override;
  at::Tensor read_state(int64_t table, size_t index) const override;
  void write_state(int64_t table, size_t index, const float* data, int64_t numel) override;
  void allocate_state(int64_t table) override;
  double mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const override;

 private:
  std::vector<TableSpec> tables_;
  std::vector<at::Tensor> weights_;
  std::vector<std::unique_ptr<TableOptimizer>> optimizers_;  // null: no optimizer
};

}  // namespace torchrec
