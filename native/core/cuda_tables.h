// The EBC's tables on a GPU: weights as CUDA tensors (fp32 or fp16, as the table), fused optimizer
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
#include <vector>

#include "core/keyed_jagged_tensor.h"
#include "core/optimizer.h"
#include "core/table_spec.h"

namespace torchrec {

// One output block as the GPU path needs it: KJT key `key` (index into kjt.keys()) looked up in
// table `table`, written from column `out_column` of each output row.
struct CudaFeature {
  int64_t table = 0;
  int64_t key = 0;
  int64_t out_column = 0;
};

class CudaTables {
 public:
  // Copies `host_weights` (one CPU tensor per table, [N][D], the table's dtype) to cuda:`device_index`
  // (-1: the current device). `optimizers[t]` is the table's fused optimizer, or nullopt if untrained.
  // Throws ERR_DEVICE when the device does not exist or memory runs out (naming the table).
  CudaTables(std::vector<TableSpec> tables, const std::vector<at::Tensor>& host_weights,
             std::vector<std::optional<OptimizerSpec>> optimizers, int device_index);

  int device_index() const { return device_; }

  // Pools every feature's bags into `out`, a HOST buffer of kjt.stride() * out_width floats.
  // Ids are range-checked on the host first (ERR_INDEX_OUT_OF_RANGE, as on the CPU path).
  void forward(const KeyedJaggedTensor& kjt, const std::vector<CudaFeature>& features, bool weighted, int64_t out_width,
               float* out) const;

  // One fused sparse step: `grad_output` is the HOST [B][out_width] gradient of the pooled output;
  // every trained table's touched rows are updated once with their aggregated gradient.
  // `steps[t]` holds table t's learning rate and Adam bias corrections (TableOptimizer::make_step).
  void backward(const KeyedJaggedTensor& kjt, const std::vector<CudaFeature>& features, bool weighted,
                const float* grad_output, int64_t out_width, const std::vector<OptimizerStep>& steps);

  at::Tensor get_weights(int64_t table) const;              // CPU float32 [N][D] copy
  void set_weights(int64_t table, const at::Tensor& host);  // CPU float32 [N][D]; rounded for fp16

  // Optimizer state, as TableOptimizer names and shapes it (0: momentum1, 1: momentum2).
  size_t state_count(int64_t table) const;
  at::Tensor state_copy(int64_t table, size_t index) const;  // CPU float32, flattened; zeros if unused
  void set_state(int64_t table, size_t index, const at::Tensor& host);

 private:
  void ensure_state(int64_t table);
  int64_t state_numel(int64_t table, size_t index) const;
  void check_ids(const KeyedJaggedTensor& kjt, const CudaFeature& feature) const;

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
