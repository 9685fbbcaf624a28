#include "fbgemm_quantized.h"

#include <fbgemm/FbgemmEmbedding.h>
#include <omp.h>

#include <stdexcept>
#include <string>

#include "kernels/rowwise_quant.h"

namespace bench {

struct FbgemmQuantizedForward::Kernel {
  fbgemm::EmbeddingSpMDMKernelSignature<uint8_t, int64_t, int64_t, float>::Type pool;
};

FbgemmQuantizedForward::FbgemmQuantizedForward(int bits, int64_t dim, std::vector<const uint8_t*> tables, int64_t rows,
                                               int threads)
    : tables_(std::move(tables)), dim_(dim), rows_(rows), threads_(threads), kernel_(std::make_unique<Kernel>()) {
  const int64_t tables_count = static_cast<int64_t>(tables_.size());
  const int64_t row_bytes = torchrec::kernels::quantized_row_bytes(dim, bits);
  // As fbgemm_gpu's CPU forward builds them for a table of the TBE inference layout, writing into its
  // columns of the [batch][tables * dim] output (prefetch 16: FBGEMM's default).
  if (bits == 8) {
    kernel_->pool = fbgemm::GenerateEmbeddingSpMDMWithStrides<uint8_t, int64_t, int64_t, float>(
        dim, /*has_weight=*/false, /*normalize_by_lengths=*/false, /*prefetch=*/16, /*is_weight_positional=*/false,
        /*use_offsets=*/true, /*output_stride=*/tables_count * dim, /*input_stride=*/row_bytes,
        /*scale_bias_last=*/false);
  } else if (bits == 4) {
    kernel_->pool = fbgemm::GenerateEmbeddingSpMDMNBitWithStrides<int64_t, int64_t, float>(
        /*input_bit_rate=*/4, dim, /*has_weight=*/false, /*normalize_by_lengths=*/false, /*prefetch=*/16,
        /*is_weight_positional=*/false, /*use_offsets=*/true, /*output_stride=*/tables_count * dim,
        /*input_stride=*/row_bytes, /*scale_bias_last=*/false);
  } else {
    throw std::runtime_error("fbgemm quantized forward: --dtype int8 or int4 only, not int" + std::to_string(bits));
  }
}

FbgemmQuantizedForward::~FbgemmQuantizedForward() = default;

void FbgemmQuantizedForward::forward(const int64_t* ids, int64_t batch, int64_t pooling, float* out) {
  const int64_t tables = static_cast<int64_t>(tables_.size());
  if (static_cast<int64_t>(offsets_.size()) != batch + 1) {
    offsets_.resize(static_cast<size_t>(batch + 1));
    for (int64_t b = 0; b <= batch; ++b) offsets_[b] = b * pooling;
  }
  bool ok = true;
  // Each thread its share of every table's bags, as contiguous runs (our kernel's static split).
#pragma omp parallel num_threads(threads_) reduction(&& : ok)
  {
    const int n = omp_get_num_threads(), me = omp_get_thread_num();
    const int64_t b0 = batch * me / n, b1 = batch * (me + 1) / n;
    for (int64_t t = 0; t < tables && b1 > b0; ++t) {
      ok = kernel_->pool(b1 - b0, (b1 - b0) * pooling, rows_, tables_[t], ids + (t * batch + b0) * pooling,
                         offsets_.data(), nullptr, out + b0 * tables * dim_ + t * dim_) &&
           ok;
    }
  }
  if (!ok) throw std::runtime_error("fbgemm quantized forward: FBGEMM's kernel rejected the batch (ids out of range?)");
}

}  // namespace bench
