// Where a table's rows live, behind one interface: the dense CPU store (fp32/fp16 weights, optimizers
// and the fused CPU kernels) and the CUDA store today; a shard (a row or column range of a table), a
// quantized or a memory-mapped table next. A store holds every table of its LookupPlan, in plan
// order, with the optimizer of each; it trusts what the plan validated (ids in range, keys present)
// and never re-checks it. Callers serialise writers against everything else (the module's lock).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/lookup_plan.h"
#include "core/optimizer_spec.h"

namespace torchrec {

class TableStore {
 public:
  virtual ~TableStore() = default;

  // "cpu", "cuda:0", ...: where the rows are.
  virtual std::string device() const = 0;

  // Pools every output block of `batch` into `out`, a host buffer of batch_size() * output_width()
  // floats (row-major [B][width]).
  virtual void forward(const LookupPlan& plan, const PlannedBatch& batch, float* out) const = 0;
  // Whether forward() takes batches planned with fuse_managed (raw managed ids, remapped as pooled).
  virtual bool pools_managed_ids() const { return false; }
  // Whether forward() takes batches planned with defer_id_check (it range-checks ids as it pools them,
  // and calls LookupPlan::report_bad_ids when one is out of range).
  virtual bool checks_ids_while_pooling() const { return false; }

  // One fused sparse step: `grad` is the host [B][output_width()] gradient of forward(batch); every
  // table's touched rows are updated once with their summed gradient, with steps[t]'s constants.
  // Tables without an optimizer are never passed here (the module refuses first). All allocation
  // happens before the first row moves, so a step that cannot allocate leaves every table unchanged.
  virtual void backward(const LookupPlan& plan, const PlannedBatch& batch, const float* grad,
                        const std::vector<OptimizerStep>& steps) = 0;

  // Row I/O in the stored dtype: a CPU copy of rows [begin, begin + count) of table t, [count][D];
  // and a write of rows from a CPU float32 or stored-dtype tensor of that shape (fp32 rounds to fp16
  // for fp16 tables).
  virtual at::Tensor read_rows(int64_t table, int64_t begin, int64_t count) const = 0;
  virtual void write_rows(int64_t table, int64_t begin, const at::Tensor& rows) = 0;
  // Table t's rows ([N][D], stored dtype) where they lie in host memory, for reading in place with no
  // copy (torchrec_bench pairs the bare kernel with the core on the core's own tables); null when the
  // store keeps them elsewhere. Valid while the store lives; not ordered against writes.
  virtual const void* host_rows(int64_t /*table*/) const { return nullptr; }

  // Optimizer state `index` of optimizer_state_layout(kind) for table t: a CPU float32 copy, flattened
  // ([N*D] or [N]), zeros if never allocated; and its replacement (already checked by the caller).
  virtual at::Tensor read_state(int64_t table, size_t index) const = 0;
  virtual void write_state(int64_t table, size_t index, const float* data, int64_t numel) = 0;
  // Allocates table t's optimizer state now (zero) if it is not yet: lets a caller that writes
  // several tables fail on memory before it changes any.
  virtual void allocate_state(int64_t table) = 0;

  // the-algorithm-ml's log_ebc_norms of table t (kernels/table_norms_cpu.h).
  virtual double mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const = 0;
};

}  // namespace torchrec

namespace torchrec {

// The store for `device`: "cpu", or "cuda" / "cuda:N" when this build has the CUDA store
// (TORCHREC_WITH_CUDA); ERR_DEVICE otherwise, saying why. Weights start as CpuTableStore draws them,
// whatever the device, so a CPU and a CUDA collection with the same seed start identical.
// stochastic_rounding: the CPU store's fp16 rounding of optimizer writes (CpuTableStore); the CUDA
// store rounds to nearest.
std::unique_ptr<TableStore> make_table_store(const std::string& device, const std::vector<TableSpec>& tables,
                                             const std::vector<std::optional<OptimizerSpec>>& optimizers, uint64_t seed,
                                             bool stochastic_rounding = true);

// Whether this build has the CUDA store.
bool cuda_store_compiled();

}  // namespace torchrec
