// The store of a collection with row-wise quantized tables (int8/int4/int2: kernels/rowwise_quant.h,
// FBGEMM's TBE inference layout), read-only for training: forward pools with the fused
// dequantize-and-pool kernels; backward and optimizer state are ERR_INVALID_MODE. Tables of the same
// collection left in fp32/fp16 live here too, as the dense store keeps them, and pool with its kernels.
//
// Row I/O of a quantized table is in its stored form: uint8 [count][4 + packed codes] per row. A write
// takes those bytes as they are, or float32 [count][D] values, quantized (non-finite values refused).
#pragma once

#include <vector>

#include "core/table_store.h"

namespace torchrec {

class QuantizedTableStore final : public TableStore {
 public:
  // Initial weights are the dense store's draw (draw_initial_table's values), quantized.
  QuantizedTableStore(const std::vector<TableSpec>& tables, uint64_t seed);

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
  [[noreturn]] void refuse_training(int64_t table, const char* what) const;

  std::vector<TableSpec> tables_;
  std::vector<at::Tensor> weights_;  // quantized: uint8 [N][row bytes]; dense: [N][D] fp32/fp16
};

// Float32 [rows][D] values of stored quantized rows (uint8 [rows][row bytes]) of a table of `bits`.
at::Tensor dequantize_table_rows(const at::Tensor& stored, int64_t dim, int bits);

}  // namespace torchrec
