// The CUDA store: tables on a GPU, weights as CUDA tensors (fp32 or fp16, as the table), fused optimizer
// state as fp32 CUDA tensors, and the tensor-facing side of native/kernels/cuda_kernels.h. Inputs
// arrive from the host (the KJT lives there): each call packs what the kernels read into one pinned
// buffer, sends it with one copy, runs the kernels on a stream of its own and, for forward, copies the
// pooled output back into the caller's host buffer. Calls block until their GPU work is done.
// Compiled only when TORCHREC_WITH_CUDA (cmake/CudaKernels.cmake); empty otherwise.
#pragma once

#if TORCHREC_WITH_CUDA

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/table_store.h"

namespace torchrec {

class CudaTableStore final : public TableStore {
 public:
  // Draws the initial weights as CpuTableStore does (draw_initial_table, one table at a time on the
  // host) and places them on cuda:`device_index` (-1: the current device). ERR_DEVICE when the device
  // does not exist; ERR_OUT_OF_MEMORY naming the table when it does not fit.
  CudaTableStore(const std::vector<TableSpec>& tables, const std::vector<std::optional<OptimizerSpec>>& optimizers,
                 uint64_t seed, int device_index);

  std::string device() const override { return "cuda:" + std::to_string(device_); }
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
  void ensure_state(int64_t table);
  size_t state_count(int64_t table) const;
  int64_t state_numel(int64_t table, size_t index) const;

  std::vector<TableSpec> tables_;
  std::vector<std::optional<OptimizerSpec>> optimizers_;
  std::vector<at::Tensor> weights_;             // CUDA, [N][D]
  std::vector<std::vector<at::Tensor>> state_;  // CUDA fp32, allocated (zero) on first use
  std::vector<int64_t> row_offset_;             // linear row of each table's row 0
  int64_t total_rows_ = 0;
  int device_ = 0;
};

}  // namespace torchrec

#endif  // TORCHREC_WITH_CUDA
