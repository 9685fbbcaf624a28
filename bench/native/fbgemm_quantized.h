// FBGEMM's own quantized pooled lookup, as a peer for the quantized kernels (issue 14): what fbgemm_gpu's
// CPU inference path (int_nbit_split_embedding_codegen_forward_cpu) runs for int8 and int4 tables in the
// TBE layout (a row is fp16 scale, fp16 bias, then the codes: scale_bias_last = false), one FBGEMM kernel
// per table. fbgemm_gpu runs each table's kernel on one thread; here each table's bags are split over
// `threads` threads, as our kernel splits them, so the two are compared at the same parallelism.
// Built only when CMake is given TORCHREC_FBGEMM_INCLUDE / TORCHREC_FBGEMM_LIBS: bench/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace bench {

class FbgemmQuantizedForward {
 public:
  // bits: 8 or 4; tables of rows of torchrec::kernels::quantized_row_bytes(dim, bits) bytes.
  FbgemmQuantizedForward(int bits, int64_t dim, std::vector<const uint8_t*> tables, int64_t rows, int threads);
  ~FbgemmQuantizedForward();

  // SUM-pools `batch` bags of `pooling` ids per table, key-major (table t's bag b holds
  // ids[(t * batch + b) * pooling ...]), into out [batch][tables * dim].
  void forward(const int64_t* ids, int64_t batch, int64_t pooling, float* out);

 private:
  struct Kernel;
  std::vector<const uint8_t*> tables_;
  int64_t dim_, rows_;
  int threads_;
  std::vector<int64_t> offsets_;  // 0, pooling, 2 * pooling, ...: every thread's bags start at 0
  std::unique_ptr<Kernel> kernel_;
};

}  // namespace bench
