// FBGEMM's exact CPU backward for row-wise Adagrad, for a side-by-side with the core's backward (issue 19):
// what fbgemm_gpu's split_embedding_backward_codegen_rowwise_adagrad_cpu does for fp32 tables that no two
// features share, rebuilt on the FBGEMM library's own kernels (fbgemm_gpu itself needs a PyTorch with
// FBGEMM, which Debian's is not). Per table:
//  1. csr2csc: the batch's (id, bag) pairs radix-sorted by id (fbgemm::radix_sort_parallel), the unique
//     ids and the segment of bags each one has, found in one parallel chunk per thread;
//  2. blocks of 64 unique ids over the threads: each id's gradient rows (its bags' rows of grad_output)
//     summed by fbgemm's SpMDM kernel, then one fused row-wise Adagrad update per id
//     (fbgemm::GenerateSparseAdaGrad, rowwise).
// Built only when CMake is given TORCHREC_FBGEMM_INCLUDE / TORCHREC_FBGEMM_LIBS (an FBGEMM built from source):
// bench/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace bench {

class FbgemmRowwiseAdagrad {
 public:
  // `tables` tables of rows x dim fp32, starting from `initial` (one [rows * dim] block per table), state 0.
  FbgemmRowwiseAdagrad(const std::vector<std::vector<float>>& initial, int64_t rows, int64_t dim, float lr, float eps,
                       int threads);
  ~FbgemmRowwiseAdagrad();

  // One step on a batch of `batch` bags of `pooling` ids per table, key-major (table t's bag b holds
  // ids[(t * batch + b) * pooling ...]), SUM pooling, with grad_output `grad` [batch][tables * dim].
  void step(const int64_t* ids, int64_t batch, int64_t pooling, const float* grad);

  const std::vector<float>& weights(int64_t table) const { return weights_[table]; }

 private:
  struct Kernels;
  std::vector<std::vector<float>> weights_, momentum_;
  int64_t rows_, dim_;
  float lr_, eps_;
  int threads_;
  std::unique_ptr<Kernels> kernels_;
};

}  // namespace bench
