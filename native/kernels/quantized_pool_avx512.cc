// AVX-512 path of the quantized pooled lookup (contract in quantized_pool_cpu.h) for int8 and int4 rows
// whose dim is a multiple of 16; every other feature goes to the AVX2 path. Functions carry a target
// attribute; quantized_pool_cpu.cc calls in only after a runtime CPU check.
//
// Why a second vector path: the lookup is bound by the rows' memory latency, and how many rows the core
// keeps in flight depends on how many instructions each row costs. 16 lanes per instruction halve the
// count (Zen 4 executes them as two 256-bit halves: the same arithmetic, half the front-end and
// reorder-buffer slots); int4 takes 32 codes from 16 bytes with one widening and two table lookups
// (no int-to-float conversion, no shuffle back into element order per row: see add_row).
// Each element gets exactly the AVX2 path's operations (acc = fma(s, code, acc + b)): the same bits.
#pragma GCC optimize("fp-contract=off")
// GCC 12's AVX-512 headers start some conversions from _mm512_undefined_ps(), which its
// -Wmaybe-uninitialized then reports inside the header; the lanes are all written.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>
#include <cstring>

#include "kernels/quantized_pool_cpu.h"
#include "kernels/rowwise_quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define TORCHREC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace torchrec::kernels::detail {
namespace {

TORCHREC_AVX512 inline float half_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// int4 columns are pooled in pairs of vectors that hold a 32-code block de-interleaved: the first the
// even elements (low nibbles), the second the odd ones (high nibbles), so no shuffle puts codes back
// in order per row; store_columns interleaves them once per bag. An odd last vector (16 codes) stays
// in order. Every element still gets exactly acc = fma(s, code, acc + b).
// Adds one row's columns [col, col + 16 * NV) to acc: acc = fma(s, code, acc + b).
template <int NV, int Bits>
TORCHREC_AVX512 inline void add_row(__m512* acc, const uint8_t* codes, int64_t col, __m512 s, __m512 b) {
  if constexpr (Bits == 8) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + col + 16 * v));
      const __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
      acc[v] = _mm512_fmadd_ps(s, x, _mm512_add_ps(acc[v], b));
    }
  } else {
    // Each byte widened to a 32-bit lane: its low nibble indexes the code table directly (vpermps reads
    // an index's low 4 bits only), its high nibble after one shift. 16 bytes give 32 codes.
    const __m512 code_values = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int v = 0;
#pragma GCC unroll 4
    for (; v + 2 <= NV; v += 2) {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + (col + 16 * v) / 2));
      const __m512i lanes = _mm512_cvtepu8_epi32(packed);
      const __m512 even = _mm512_permutexvar_ps(lanes, code_values);
      const __m512 odd = _mm512_permutexvar_ps(_mm512_srli_epi32(lanes, 4), code_values);
      acc[v] = _mm512_fmadd_ps(s, even, _mm512_add_ps(acc[v], b));
      acc[v + 1] = _mm512_fmadd_ps(s, odd, _mm512_add_ps(acc[v + 1], b));
    }
    if (v < NV) {  // an odd last vector: its 16 codes are 8 bytes, kept in order
      const __m128i low_nibbles = _mm_set1_epi8(0x0F);
      const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (col + 16 * v) / 2));
      const __m128i lo = _mm_and_si128(packed, low_nibbles);
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low_nibbles);
      const __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
      acc[v] = _mm512_fmadd_ps(s, x, _mm512_add_ps(acc[v], b));
    }
  }
}

// Stores a bag's columns [col, col + 16 * NV) (times `inv` for MEAN), in element order.
template <int NV, int Bits>
TORCHREC_AVX512 inline void store_columns(const __m512* acc, float* out, int64_t col, bool mean, __m512 inv) {
  int v = 0;
  if constexpr (Bits == 4) {
    const __m512i first_half = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i second_half = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#pragma GCC unroll 4
    for (; v + 2 <= NV; v += 2) {
      __m512 x0 = _mm512_permutex2var_ps(acc[v], first_half, acc[v + 1]);
      __m512 x1 = _mm512_permutex2var_ps(acc[v], second_half, acc[v + 1]);
      if (mean) {
        x0 = _mm512_mul_ps(x0, inv);
        x1 = _mm512_mul_ps(x1, inv);
      }
      _mm512_storeu_ps(out + col + 16 * v, x0);
      _mm512_storeu_ps(out + col + 16 * (v + 1), x1);
    }
  }
#pragma GCC unroll 8
  for (; v < NV; ++v) _mm512_storeu_ps(out + col + 16 * v, mean ? _mm512_mul_ps(acc[v], inv) : acc[v]);
}

// Columns [col, col + 16 * NV) of one bag.
template <int NV, int Bits, typename Id, bool Weighted>
TORCHREC_AVX512 void pool_vectors(const QuantizedFeature& f, int64_t row_bytes, int64_t col, const Id* ids,
                                  const float* weights, int64_t begin, int64_t end, float* out, int64_t prefetch,
                                  int64_t prefetch_end) {
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = _mm512_setzero_ps();
  for (int64_t i = begin; i < end; ++i) {
    if (i + prefetch < prefetch_end) {
      prefetch_row(f.rows + static_cast<int64_t>(ids[i + prefetch]) * row_bytes, row_bytes);
    }
    const uint8_t* row = f.rows + static_cast<int64_t>(ids[i]) * row_bytes;
    float scale = half_at(row);
    float bias = half_at(row + 2);
    if constexpr (Weighted) {
      scale *= weights[i];
      bias *= weights[i];
    }
    add_row<NV, Bits>(acc, row + 4, col, _mm512_set1_ps(scale), _mm512_set1_ps(bias));
  }
  const bool mean = f.mean && end > begin;
  const __m512 inv = _mm512_set1_ps(mean ? 1.0f / static_cast<float>(end - begin) : 1.0f);
  store_columns<NV, Bits>(acc, out, col, mean, inv);
}

template <int Bits, typename Id, bool Weighted>
TORCHREC_AVX512 void pool_feature(const QuantizedPlan& plan, const QuantizedFeature& f, int64_t b0, int64_t b1) {
  const Id* ids = static_cast<const Id*>(plan.ids);
  const int64_t* offsets = plan.offsets + f.key * plan.batch;
  const int64_t row_bytes = quantized_row_bytes(f.dim, Bits);
  const int64_t pf_rows = prefetch_distance(plan, row_bytes);
  const int64_t prefetch_end = pf_rows > 0 ? offsets[b1] : 0;  // 0: never
  const int64_t blocks = f.dim / 128;
  const int rest = static_cast<int>((f.dim % 128) / 16);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t begin = offsets[b];
    const int64_t end = offsets[b + 1];
    float* out = plan.out + b * plan.out_width + f.out_column;
    int64_t col = 0;
    int64_t pf = prefetch_end;  // only the first pass over the bag's rows prefetches
    for (int64_t k = 0; k < blocks; ++k, col += 128, pf = 0) {
      pool_vectors<8, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
    }
    switch (rest) {
      case 0: break;
      case 1:
        pool_vectors<1, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      case 2:
        pool_vectors<2, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      case 3:
        pool_vectors<3, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      case 4:
        pool_vectors<4, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      case 5:
        pool_vectors<5, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      case 6:
        pool_vectors<6, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
      default:
        pool_vectors<7, Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out, pf_rows, pf);
        break;
    }
  }
}

template <typename Id, bool Weighted>
TORCHREC_AVX512 void pool_feature_bits(const QuantizedPlan& plan, const QuantizedFeature& f, int64_t b0, int64_t b1) {
  if (f.bits == 8) return pool_feature<8, Id, Weighted>(plan, f, b0, b1);
  pool_feature<4, Id, Weighted>(plan, f, b0, b1);
}

template <typename Id>
TORCHREC_AVX512 void run_bags(const QuantizedPlan& plan, int64_t begin_bag, int64_t end_bag) {
  for (int64_t bag = begin_bag; bag < end_bag;) {
    const int64_t fi = bag / plan.batch;
    const int64_t b0 = bag - fi * plan.batch;
    const int64_t b1 = end_bag - fi * plan.batch < plan.batch ? end_bag - fi * plan.batch : plan.batch;
    const QuantizedFeature& f = plan.features[fi];
    if (!quantized_avx512_handles(f)) {
      quantized_bags_avx2(plan, bag, bag + (b1 - b0));
    } else if (plan.weights) {
      pool_feature_bits<Id, true>(plan, f, b0, b1);
    } else {
      pool_feature_bits<Id, false>(plan, f, b0, b1);
    }
    bag += b1 - b0;
  }
}

}  // namespace

bool quantized_avx512_handles(const QuantizedFeature& f) {
  return (f.bits == 8 || f.bits == 4) && f.dim % 16 == 0;
}

TORCHREC_AVX512 void quantized_bags_avx512(const QuantizedPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t>(plan, begin, end);
  } else {
    run_bags<int32_t>(plan, begin, end);
  }
}

}  // namespace torchrec::kernels::detail

#endif  // x86
