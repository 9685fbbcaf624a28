#include "fbgemm_backward.h"

#include <fbgemm/FbgemmEmbedding.h>
#include <fbgemm/Utils.h>
#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace bench {

struct FbgemmRowwiseAdagrad::Kernels {
  fbgemm::EmbeddingSpMDMKernelSignature<float, int32_t, int32_t, float>::Type gather_sum;
  fbgemm::SparseAdaGradSignature<int32_t>::Type rowwise_adagrad;
  // Per call, per table: sort buffers, then the unique ids and their segments (kept between calls).
  std::vector<int32_t> keys, values, keys_tmp, values_tmp, unique_ids, segment_ptr;
};

FbgemmRowwiseAdagrad::FbgemmRowwiseAdagrad(const std::vector<std::vector<float>>& initial, int64_t rows, int64_t dim,
                                           float lr, float eps, int threads)
    : weights_(initial),
      momentum_(initial.size(), std::vector<float>(static_cast<size_t>(rows), 0.0f)),
      rows_(rows),
      dim_(dim),
      lr_(lr),
      eps_(eps),
      threads_(threads),
      kernels_(std::make_unique<Kernels>()) {
  if (rows >= (int64_t{1} << 31)) throw std::runtime_error("fbgemm backward: its CPU path takes < 2^31 rows");
  const int64_t tables = static_cast<int64_t>(initial.size());
  // As fbgemm_gpu builds them: the gradient rows are the bags' rows of grad_output, whose stride is the
  // whole output width.
  kernels_->gather_sum = fbgemm::GenerateEmbeddingSpMDMWithStrides<float, int32_t, int32_t>(
      dim, /*has_weight=*/false, /*normalize_by_lengths=*/false, /*prefetch=*/16, /*is_weight_positional=*/false,
      /*use_offsets=*/true, /*output_stride=*/-1, /*input_stride=*/tables * dim);
  kernels_->rowwise_adagrad = fbgemm::GenerateSparseAdaGrad<int32_t>(static_cast<int>(dim), /*rowwise=*/true);
}

FbgemmRowwiseAdagrad::~FbgemmRowwiseAdagrad() = default;

void FbgemmRowwiseAdagrad::step(const int64_t* ids, int64_t batch, int64_t pooling, const float* grad) {
  const int64_t tables = static_cast<int64_t>(weights_.size());
  const int64_t n = batch * pooling;
  Kernels& k = *kernels_;
  for (int64_t t = 0; t < tables; ++t) {
    if (n == 0) continue;
    k.keys.resize(n), k.values.resize(n), k.keys_tmp.resize(n), k.values_tmp.resize(n);
    const int64_t* table_ids = ids + t * n;
    // csr2csc's fill: key = id, value = its bag.
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = b * pooling; j < (b + 1) * pooling; ++j) {
        k.keys[j] = static_cast<int32_t>(table_ids[j]);
        k.values[j] = static_cast<int32_t>(b);
      }
    }
    int32_t* sorted_keys;
    int32_t* sorted_bags;
    std::tie(sorted_keys, sorted_bags) =
        fbgemm::radix_sort_parallel(k.keys.data(), k.values.data(), k.keys_tmp.data(), k.values_tmp.data(), n, rows_);

    // The unique ids and where each one's bags start: counted per chunk, then written per chunk.
    const int chunks = static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(1, n - 1)));
    std::vector<int64_t> chunk_unique(chunks + 1, 0);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (int c = 0; c < chunks; ++c) {
      const int64_t begin = 1 + c * (n - 1) / chunks, end = 1 + (c + 1) * (n - 1) / chunks;
      int64_t count = 0;
      for (int64_t i = begin; i < end; ++i) count += sorted_keys[i] != sorted_keys[i - 1];
      chunk_unique[c + 1] = count;
    }
    for (int c = 0; c < chunks; ++c) chunk_unique[c + 1] += chunk_unique[c];
    const int64_t unique = chunk_unique[chunks] + 1;
    k.unique_ids.resize(unique), k.segment_ptr.resize(unique + 1);
    k.unique_ids[0] = sorted_keys[0];
    k.segment_ptr[0] = 0;
    k.segment_ptr[unique] = static_cast<int32_t>(n);
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (int c = 0; c < chunks; ++c) {
      const int64_t begin = 1 + c * (n - 1) / chunks, end = 1 + (c + 1) * (n - 1) / chunks;
      int64_t at = 1 + chunk_unique[c];
      for (int64_t i = begin; i < end; ++i) {
        if (sorted_keys[i] != sorted_keys[i - 1]) {
          k.unique_ids[at] = sorted_keys[i];
          k.segment_ptr[at] = static_cast<int32_t>(i);
          ++at;
        }
      }
    }

    // Blocks of 64 unique ids: their gradient rows summed, then one row-wise Adagrad update each.
    constexpr int64_t kBlock = 64;
    float* w = weights_[t].data();
    float* h = momentum_[t].data();
    const float* g_out = grad + t * dim_;
    const int64_t blocks = (unique + kBlock - 1) / kBlock;
    bool ok = true;
#pragma omp parallel num_threads(threads_) reduction(&& : ok)
    {
      std::vector<float> summed(static_cast<size_t>(kBlock * dim_));
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t c = blk * kBlock, c_end = std::min(c + kBlock, unique);
        const int32_t* offsets = k.segment_ptr.data() + c;
        ok = ok && k.gather_sum(c_end - c, k.segment_ptr[c_end] - offsets[0], batch, g_out, sorted_bags + offsets[0],
                                offsets, nullptr, summed.data());
        const int done = k.rowwise_adagrad(static_cast<int>(c_end - c), static_cast<uint64_t>(rows_ * dim_), w,
                                           summed.data(), h, k.unique_ids.data() + c, eps_, -lr_, 0.0f, nullptr, 0);
        ok = ok && done == c_end - c;
      }
    }
    if (!ok) throw std::runtime_error("fbgemm backward: a kernel refused table " + std::to_string(t));
  }
}

}  // namespace bench
