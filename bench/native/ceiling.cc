#include "ceiling.h"

#include <immintrin.h>

namespace bench {
namespace {

template <bool Half>
inline __m256 load8(const void* base, int64_t elem) {
  if constexpr (Half) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + elem)));
  } else {
    return _mm256_loadu_ps(static_cast<const float*>(base) + elem);
  }
}

template <int D, bool Half, int PF>
void gather(const CeilingInput& in, int threads) {
  constexpr int64_t kRowBytes = D * (Half ? 2 : 4);
  constexpr int kBlock = D < 64 ? D : 64;  // columns held in registers per pass
  constexpr int kVec = kBlock / 8;
  const int64_t T = static_cast<int64_t>(in.tables.size());
  const int64_t B = in.batch, L = in.pooling;
  const int64_t bags = T * B;
  const int64_t total = bags * L;
  const int64_t* ids = in.ids;
  const void* const* tables = in.tables.data();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t bag = 0; bag < bags; ++bag) {
    const int64_t t = bag / B, b = bag % B;
    const void* table = tables[t];
    const int64_t first = bag * L;
    float* out = in.out + b * T * D + t * D;
    for (int col = 0; col < D; col += kBlock) {
      __m256 acc[kVec];
      for (int v = 0; v < kVec; ++v) acc[v] = _mm256_setzero_ps();
      for (int64_t i = first; i < first + L; ++i) {
        if constexpr (PF > 0) {
          if (col == 0 && i + PF < total) {
            const char* p = static_cast<const char*>(tables[(i + PF) / (B * L)]) + ids[i + PF] * kRowBytes;
            for (int64_t line = 0; line < kRowBytes; line += 64) _mm_prefetch(p + line, _MM_HINT_T0);
          }
        }
        const int64_t elem = ids[i] * D + col;
        for (int v = 0; v < kVec; ++v) acc[v] = _mm256_add_ps(acc[v], load8<Half>(table, elem + 8 * v));
      }
      for (int v = 0; v < kVec; ++v) {
        __m256 x = acc[v];
        if constexpr (Half) x = _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
        _mm256_storeu_ps(out + col + 8 * v, x);
      }
    }
  }
}

template <int D, bool Half>
void with_prefetch(const CeilingInput& in, const CeilingChoice& c) {
  switch (c.prefetch) {
    case 0: return gather<D, Half, 0>(in, c.threads);
    case 8: return gather<D, Half, 8>(in, c.threads);
    case 16: return gather<D, Half, 16>(in, c.threads);
    case 32: return gather<D, Half, 32>(in, c.threads);
    default: return gather<D, Half, 64>(in, c.threads);
  }
}

template <int D>
void with_dtype(const CeilingInput& in, const CeilingChoice& c) {
  if (in.half) {
    with_prefetch<D, true>(in, c);
  } else {
    with_prefetch<D, false>(in, c);
  }
}

}  // namespace

bool ceiling_supported(int64_t dim) {
  return dim == 16 || dim == 32 || dim == 64 || dim == 128;
}

void run_ceiling(const CeilingInput& in, const CeilingChoice& choice) {
  switch (in.dim) {
    case 16: return with_dtype<16>(in, choice);
    case 32: return with_dtype<32>(in, choice);
    case 64: return with_dtype<64>(in, choice);
    default: return with_dtype<128>(in, choice);
  }
}

}  // namespace bench
