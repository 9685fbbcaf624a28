#include "quantized_ceiling.h"

#include <immintrin.h>

#include <cstring>

#include "kernels/quantized_pool_cpu.h"

namespace bench {
namespace {

template <int PF>
void gather(const QuantizedCeilingInput& in, int threads) {
  const int64_t T = static_cast<int64_t>(in.tables.size());
  const int64_t B = in.batch, L = in.pooling, D = in.dim, R = in.row_bytes;
  const int64_t chunks = (R - 4) / 32;  // the codes, 32 bytes at a time, after the 4-byte scale and bias
  const int64_t* ids = in.ids;
  const uint8_t* const* tables = in.tables.data();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t bag = 0; bag < T * B; ++bag) {
    const int64_t t = bag / B, b = bag % B;
    const uint8_t* table = tables[t];
    const int64_t first = bag * L;
    const int64_t table_end = (t + 1) * B * L;  // prefetches stay within this table's ids
    __m256i acc = _mm256_setzero_si256();
    uint64_t header = 0;
    for (int64_t i = first; i < first + L; ++i) {
      if constexpr (PF > 0) {
        if (i + PF < table_end) {
          torchrec::kernels::detail::prefetch_row(table + ids[i + PF] * R, R);
        }
      }
      const uint8_t* row = table + ids[i] * R;
      uint32_t word;
      std::memcpy(&word, row, 4);
      header += word;
      for (int64_t c = 0; c < chunks; ++c) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 4 + 32 * c));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, _mm256_setzero_si256()));
      }
    }
    const float value = static_cast<float>(_mm256_extract_epi64(acc, 0) + _mm256_extract_epi64(acc, 3) + header);
    float* out = in.out + b * T * D + t * D;
    const __m256 v = _mm256_set1_ps(value);
    for (int64_t d = 0; d + 8 <= D; d += 8) _mm256_storeu_ps(out + d, v);
    for (int64_t d = D / 8 * 8; d < D; ++d) out[d] = value;
  }
}

}  // namespace

bool quantized_ceiling_supported(int64_t row_bytes) {
  return row_bytes > 4 && (row_bytes - 4) % 32 == 0;
}

void run_quantized_ceiling(const QuantizedCeilingInput& in, const CeilingChoice& c) {
  switch (c.prefetch) {
    case 0: return gather<0>(in, c.threads);
    case 8: return gather<8>(in, c.threads);
    case 16: return gather<16>(in, c.threads);
    case 32: return gather<32>(in, c.threads);
    default: return gather<64>(in, c.threads);
  }
}

}  // namespace bench
