// Fused dequantize-and-pool over row-wise quantized tables (kernels/rowwise_quant.h layout): every
// (feature, sample) bag in one parallel pass, SUM or MEAN, optional per-value weights, int32 or int64
// ids. Inputs are trusted: callers validate offsets and id ranges first.
//
// Each output element is FBGEMM's EmbeddingSpMDMNBit accumulation, in id order:
//   acc = fma(s, code, acc + b), with s = scale * w and b = bias * w (w = 1 unweighted),
// times 1/n for MEAN (an empty bag is 0). Every path (AVX2+FMA or portable) gives the same bits,
// whatever the thread count: the fma is exact in both.
#pragma once

#include <cstdint>
#include <vector>

namespace torchrec::kernels {

struct QuantizedFeature {
  const uint8_t* rows = nullptr;  // [num_rows][quantized_row_bytes(dim, bits)]
  int bits = 8;                   // 8, 4 or 2
  int64_t dim = 0;
  int64_t key = 0;  // which KJT key: its bags are offsets[key*B + b]
  bool mean = false;
  int64_t out_column = 0;
};

struct QuantizedBatch {
  const int64_t* offsets = nullptr;  // keys*B + 1 entries
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* per_value_weights = nullptr;  // null when unweighted
  int64_t batch = 0;
  float* out = nullptr;  // [B][out_width]
  int64_t out_width = 0;
};

void quantized_pool_forward(const std::vector<QuantizedFeature>& features, const QuantizedBatch& batch);

// "avx512" on CPUs with AVX-512 F/BW/VL (int8 and int4 features whose dim is a multiple of 16; the
// rest take the AVX2 path), "avx2+fma" on CPUs that have AVX2, F16C and FMA, else "portable".
// TORCHREC_CPU_KERNEL=portable or =avx2 (read once) caps the choice, for tests and comparisons.
const char* quantized_pool_isa();

namespace detail {

struct QuantizedPlan {
  const QuantizedFeature* features = nullptr;
  int64_t num_features = 0;
  const int64_t* offsets = nullptr;
  int64_t batch = 0;
  const void* ids = nullptr;
  bool ids_int64 = true;
  const float* weights = nullptr;
  float* out = nullptr;
  int64_t out_width = 0;
  int64_t prefetch_bytes = 0;  // software prefetch distance in bytes of rows (see prefetch_distance); 0: none
};

// Rows ahead to prefetch in a feature with rows of `row_bytes`: about plan.prefetch_bytes of rows, so
// small rows (whose pooling costs little) look further ahead; 0 when prefetch is off.
inline int64_t prefetch_distance(const QuantizedPlan& plan, int64_t row_bytes) {
  if (plan.prefetch_bytes <= 0) return 0;
  const int64_t rows = plan.prefetch_bytes / row_bytes;
  return rows < 4 ? 4 : (rows > 64 ? 64 : rows);
}

// Requests every cache line of a row (a row of 132 bytes may span three): its first and last bytes'
// lines, and one address per 64 bytes between them. Rows up to 128 bytes (int4 up to D=248, int8 up to
// D=124) take two prefetches and no loop.
inline void prefetch_row(const uint8_t* row, int64_t row_bytes) {
  __builtin_prefetch(row, 0, 3);
  __builtin_prefetch(row + row_bytes - 1, 0, 3);
  for (int64_t at = 64; at < row_bytes - 64; at += 64) __builtin_prefetch(row + at, 0, 3);
}

// Pools bags [begin, end) (bag i: sample i % batch of feature i / batch); one path per instruction set.
void quantized_bags_portable(const QuantizedPlan& plan, int64_t begin, int64_t end);
void quantized_bags_avx2(const QuantizedPlan& plan, int64_t begin, int64_t end);
void quantized_bags_avx512(const QuantizedPlan& plan, int64_t begin, int64_t end);
bool quantized_avx512_handles(const QuantizedFeature& f);

}  // namespace detail
}  // namespace torchrec::kernels
