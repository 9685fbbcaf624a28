// The read-only store of a serving collection: each table's rows are either a pointer into a
// memory-mapped file (a snapshot's tensor file, a torch.save record) or, for tables whose stored
// bytes cannot be used in place (chunked, sharded, another dtype, unaligned), a copy in memory.
// Lookups are the dense CPU forward over those rows. Nothing here writes: backward and every write
// are ERR_INVALID_MODE. The store keeps its files' mappings alive; it is swapped in whole by a
// restore, so forwards that hold the old store keep the old mappings until they end.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/embedding_module.h"
#include "core/file_mapping.h"
#include "core/table_store.h"
#include "kernels/pooled_lookup_cpu.h"

namespace torchrec {

// Table `spec`'s rows inside the mapped `file`, as a tensor that keeps the mapping alive, after
// checking everything before any byte is used: dtype equal to the table's, offset aligned to the
// element size, [offset, offset + N*D*elem) inside the file. ERR_CHECKPOINT naming `where` otherwise.
at::Tensor map_table_rows(const TableSpec& spec, const std::shared_ptr<FileMapping>& file, const MappedSource& source,
                          const std::string& where);

class MappedTableStore final : public TableStore {
 public:
  // weights[t]: table t's rows, [N][D] in its dtype, contiguous on the CPU; mappings[t]: the mapping
  // they lie in, or null for a table held in memory. optimizers: only for the layout of the (zero)
  // optimizer state that exports report.
  MappedTableStore(std::vector<TableSpec> tables, std::vector<at::Tensor> weights,
                   std::vector<std::shared_ptr<FileMapping>> mappings,
                   std::vector<std::optional<OptimizerSpec>> optimizers);

  bool mapped(int64_t table) const { return mappings_.at(table) != nullptr; }

  std::string device() const override { return "cpu"; }
  void forward(const LookupPlan& plan, const PlannedBatch& batch, float* out) const override;
  bool checks_ids_while_pooling() const override { return true; }  // dense_pooled_forward does
  void backward(const LookupPlan& plan, const PlannedBatch& batch, const float* grad,
                const std::vector<OptimizerStep>& steps) override;
  at::Tensor read_rows(int64_t table, int64_t begin, int64_t count) const override;
  void write_rows(int64_t table, int64_t begin, const at::Tensor& rows) override;
  // A mapped collection keeps no optimizer state: zeros of the layout's size.
  at::Tensor read_state(int64_t table, size_t index) const override;
  void write_state(int64_t table, size_t index, const float* data, int64_t numel) override;
  void allocate_state(int64_t table) override {}
  double mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const override;

 private:
  // ERR_CHECKPOINT when a file under `table` (or any table, -1) shrank while mapped.
  void check_intact(int64_t table, const char* what) const;

  std::vector<TableSpec> tables_;
  std::vector<at::Tensor> weights_;
  std::vector<kernels::PooledFeature> table_features_;  // dense_table_features(weights_)
  std::vector<std::shared_ptr<FileMapping>> mappings_;
  std::vector<std::optional<OptimizerSpec>> optimizers_;
};

}  // namespace torchrec
