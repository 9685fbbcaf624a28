// AVX2 + FMA path of the quantized pooled lookup (contract in quantized_pool_cpu.h). Functions carry a
// target attribute; quantized_pool_cpu.cc calls in only after a runtime CPU check.
//
// A bag's columns are accumulated in registers, up to 64 floats (8 ymm) per pass over its rows. Codes
// widen to 8 int32 lanes per step: int8 by zero extension; int2 by broadcasting the 2 bytes of 8 codes
// to every lane and shifting each lane right by its own 2k bits. int4 columns go in pairs of vectors
// that hold a 16-code block de-interleaved (as the AVX-512 path): 8 bytes zero-extended to 8 lanes
// give the even elements (low nibbles, one AND) and the odd ones (one shift), half the instructions of
// decoding each 8 codes in order; store_columns interleaves them once per bag. An odd last vector of
// int4 codes is decoded in order, by per-lane shifts as int2.
// Multiply and add are never fused except where the code says fma: every path must give the same bits.
#pragma GCC optimize("fp-contract=off")

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/quantized_pool_cpu.h"
#include "kernels/rowwise_quant.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define TORCHREC_AVX2_FMA __attribute__((target("avx2,fma,f16c")))

namespace torchrec::kernels::detail {
namespace {

// Codes d .. d+7 of a row (d a multiple of 8) as floats.
template <int Bits>
TORCHREC_AVX2_FMA inline __m256 codes8(const uint8_t* codes, int64_t d) {
  if constexpr (Bits == 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + d));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
  } else if constexpr (Bits == 4) {
    int32_t word;
    std::memcpy(&word, codes + d / 2, 4);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    const __m256i v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(word), shifts), _mm256_set1_epi32(0xF));
    return _mm256_cvtepi32_ps(v);
  } else {
    uint16_t half;
    std::memcpy(&half, codes + d / 4, 2);
    const __m256i shifts = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(half), shifts), _mm256_set1_epi32(3));
    return _mm256_cvtepi32_ps(v);
  }
}

TORCHREC_AVX2_FMA inline float half_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// Adds one row's columns [col, col + 8 * NV) to acc: acc = fma(s, code, acc + b) for every element.
template <int NV, int Bits>
TORCHREC_AVX2_FMA inline void add_row(__m256* acc, const uint8_t* codes, int64_t col, __m256 s, __m256 b) {
  int v = 0;
  if constexpr (Bits == 4) {
    const __m256i low_nibble = _mm256_set1_epi32(0xF);
#pragma GCC unroll 4
    for (; v + 2 <= NV; v += 2) {
      const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (col + 8 * v) / 2));
      const __m256i lanes = _mm256_cvtepu8_epi32(packed);
      const __m256 even = _mm256_cvtepi32_ps(_mm256_and_si256(lanes, low_nibble));
      const __m256 odd = _mm256_cvtepi32_ps(_mm256_srli_epi32(lanes, 4));
      acc[v] = _mm256_fmadd_ps(s, even, _mm256_add_ps(acc[v], b));
      acc[v + 1] = _mm256_fmadd_ps(s, odd, _mm256_add_ps(acc[v + 1], b));
    }
  }
#pragma GCC unroll 8
  for (; v < NV; ++v) acc[v] = _mm256_fmadd_ps(s, codes8<Bits>(codes, col + 8 * v), _mm256_add_ps(acc[v], b));
}

// Stores a bag's columns [col, col + 8 * NV) (times `inv` for MEAN), in element order.
template <int NV, int Bits>
TORCHREC_AVX2_FMA inline void store_columns(const __m256* acc, float* out, int64_t col, bool mean, __m256 inv) {
  int v = 0;
  if constexpr (Bits == 4) {
#pragma GCC unroll 4
    for (; v + 2 <= NV; v += 2) {
      const __m256 lo = _mm256_unpacklo_ps(acc[v], acc[v + 1]);  // elements 0-3 | 8-11
      const __m256 hi = _mm256_unpackhi_ps(acc[v], acc[v + 1]);  // elements 4-7 | 12-15
      __m256 x0 = _mm256_permute2f128_ps(lo, hi, 0x20);
      __m256 x1 = _mm256_permute2f128_ps(lo, hi, 0x31);
      if (mean) {
        x0 = _mm256_mul_ps(x0, inv);
        x1 = _mm256_mul_ps(x1, inv);
      }
      _mm256_storeu_ps(out + col + 8 * v, x0);
      _mm256_storeu_ps(out + col + 8 * (v + 1), x1);
    }
  }
#pragma GCC unroll 8
  for (; v < NV; ++v) _mm256_storeu_ps(out + col + 8 * v, mean ? _mm256_mul_ps(acc[v], inv) : acc[v]);
}

// Columns [col, col + 8 * NV) of one bag.
template <int NV, int Bits, typename Id, bool Weighted>
TORCHREC_AVX2_FMA void pool_vectors(const QuantizedFeature& f, int64_t row_bytes, int64_t col, const Id* ids,
                                    const float* weights, int64_t begin, int64_t end, float* out, int64_t prefetch,
                                    int64_t prefetch_end) {
  __m256 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
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
    add_row<NV, Bits>(acc, row + 4, col, _mm256_set1_ps(scale), _mm256_set1_ps(bias));
  }
  const bool mean = f.mean && end > begin;
  const __m256 inv = _mm256_set1_ps(mean ? 1.0f / static_cast<float>(end - begin) : 1.0f);
  store_columns<NV, Bits>(acc, out, col, mean, inv);
}

// The last dim % 8 columns, one at a time (never reads past the row).
template <int Bits, typename Id, bool Weighted>
TORCHREC_AVX2_FMA void pool_tail(const QuantizedFeature& f, int64_t row_bytes, int64_t col, const Id* ids,
                                 const float* weights, int64_t begin, int64_t end, float* out) {
  constexpr int kPerByte = 8 / Bits;
  constexpr int kMask = (1 << Bits) - 1;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t n = f.dim - col;
  for (int64_t i = begin; i < end; ++i) {
    const uint8_t* row = f.rows + static_cast<int64_t>(ids[i]) * row_bytes;
    float scale = half_at(row);
    float bias = half_at(row + 2);
    if constexpr (Weighted) {
      scale *= weights[i];
      bias *= weights[i];
    }
    const uint8_t* codes = row + 4;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t d = col + k;
      const int code = (codes[d / kPerByte] >> ((d % kPerByte) * Bits)) & kMask;
      acc[k] = std::fma(scale, static_cast<float>(code), acc[k] + bias);
    }
  }
  const bool mean = f.mean && end > begin;
  const float inv = mean ? 1.0f / static_cast<float>(end - begin) : 1.0f;
  for (int64_t k = 0; k < n; ++k) out[col + k] = mean ? acc[k] * inv : acc[k];
}

template <int Bits, typename Id, bool Weighted>
TORCHREC_AVX2_FMA void pool_feature(const QuantizedPlan& plan, const QuantizedFeature& f, int64_t b0, int64_t b1) {
  const Id* ids = static_cast<const Id*>(plan.ids);
  const int64_t* offsets = plan.offsets + f.key * plan.batch;
  const int64_t row_bytes = quantized_row_bytes(f.dim, Bits);
  const int64_t pf_rows = prefetch_distance(plan, row_bytes);
  const int64_t prefetch_end = pf_rows > 0 ? offsets[b1] : 0;  // 0: never
  const int64_t blocks = f.dim / 64;
  const int rest = static_cast<int>((f.dim % 64) / 8);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t begin = offsets[b];
    const int64_t end = offsets[b + 1];
    float* out = plan.out + b * plan.out_width + f.out_column;
    int64_t col = 0;
    int64_t pf = prefetch_end;  // only the first pass over the bag's rows prefetches
    for (int64_t k = 0; k < blocks; ++k, col += 64, pf = 0) {
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
    col += 8 * rest;
    if (col < f.dim) pool_tail<Bits, Id, Weighted>(f, row_bytes, col, ids, plan.weights, begin, end, out);
  }
}

template <typename Id, bool Weighted>
TORCHREC_AVX2_FMA void pool_feature_bits(const QuantizedPlan& plan, const QuantizedFeature& f, int64_t b0, int64_t b1) {
  switch (f.bits) {
    case 8: return pool_feature<8, Id, Weighted>(plan, f, b0, b1);
    case 4: return pool_feature<4, Id, Weighted>(plan, f, b0, b1);
    default: return pool_feature<2, Id, Weighted>(plan, f, b0, b1);
  }
}

template <typename Id>
TORCHREC_AVX2_FMA void run_bags(const QuantizedPlan& plan, int64_t begin_bag, int64_t end_bag) {
  // Feature by feature: the code for a feature's width and dim is chosen once per run of its bags.
  for (int64_t bag = begin_bag; bag < end_bag;) {
    const int64_t fi = bag / plan.batch;
    const int64_t b0 = bag - fi * plan.batch;
    const int64_t b1 = end_bag - fi * plan.batch < plan.batch ? end_bag - fi * plan.batch : plan.batch;
    const QuantizedFeature& f = plan.features[fi];
    if (plan.weights) {
      pool_feature_bits<Id, true>(plan, f, b0, b1);
    } else {
      pool_feature_bits<Id, false>(plan, f, b0, b1);
    }
    bag += b1 - b0;
  }
}

}  // namespace

TORCHREC_AVX2_FMA void quantized_bags_avx2(const QuantizedPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t>(plan, begin, end);
  } else {
    run_bags<int32_t>(plan, begin, end);
  }
}

}  // namespace torchrec::kernels::detail

#endif  // x86
