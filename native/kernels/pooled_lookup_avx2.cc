// AVX2 + F16C path of the pooled lookup (contract in pooled_lookup_cpu.h). Each function carries a
// target attribute, so the rest of the build stays portable; pooled_lookup_cpu.cc calls in here only
// after a runtime CPU check.
//
// A bag's columns are accumulated in registers, up to 64 floats (8 ymm) at a time, over all of its rows,
// then scaled (MEAN), rounded (fp16 tables) and stored once. Multiply and add stay separate (no FMA) so
// every path gives the same bits as the portable loop `out[d] += w * row[d]`.
#include <cstdint>

#include "kernels/pooled_lookup_plan.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define TORCHREC_AVX2 __attribute__((target("avx2,f16c")))

namespace torchrec::kernels::detail {
namespace {

// Lane masks for the last dim % 8 float columns: load 8 ints starting at kMask + 8 - n.
alignas(32) const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Pools columns [col, col + 8 * NV + tail) of one bag; `tail` < 8 is used only when Tail. Checked:
// stops at the first id outside the table, before reading its row, and returns false.
template <int NV, bool Tail, typename Id, bool Half, bool Weighted, bool Checked>
TORCHREC_AVX2 inline bool pool_columns(const FeaturePlan& f, int64_t col, int tail, const Id* ids, const float* weights,
                                       int64_t begin, int64_t end, float* out, int64_t prefetch, int64_t prefetch_end) {
  constexpr int kVectors = NV > 0 ? NV : 1;
  __m256 acc[kVectors];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
  __m256 acc_tail = _mm256_setzero_ps();  // fp32 tail columns
  __m256i tail_mask = _mm256_setzero_si256();
  float acc_tail_half[8];
  if constexpr (Tail) {
    tail_mask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask + 8 - tail));
    for (int t = 0; t < 8; ++t) acc_tail_half[t] = 0.0f;
  }

  for (int64_t i = begin; i < end; ++i) {
    // In the loop, not a pass of its own: the adds' latency bounds this loop, so the compare is free.
    if constexpr (Checked) {
      if (id_out_of_range(f, ids[i])) return false;
    }
    if (i + prefetch < prefetch_end) prefetch_row(f, ids, i + prefetch);
    const int64_t first = static_cast<int64_t>(ids[i]) * f.dim + col;
    __m256 w = _mm256_setzero_ps();
    if constexpr (Weighted) w = _mm256_set1_ps(weights[i]);
    if constexpr (Half) {
      const uint16_t* row = reinterpret_cast<const uint16_t*>(f.rows) + first;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * v)));
        if constexpr (Weighted) x = _mm256_mul_ps(w, x);
        acc[v] = _mm256_add_ps(acc[v], x);
      }
      if constexpr (Tail) {
        for (int t = 0; t < tail; ++t) {
          float x = _cvtsh_ss(row[8 * NV + t]);
          if constexpr (Weighted) x = weights[i] * x;
          acc_tail_half[t] += x;
        }
      }
    } else {
      const float* row = reinterpret_cast<const float*>(f.rows) + first;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        __m256 x = _mm256_loadu_ps(row + 8 * v);
        if constexpr (Weighted) x = _mm256_mul_ps(w, x);
        acc[v] = _mm256_add_ps(acc[v], x);
      }
      if constexpr (Tail) {
        __m256 x = _mm256_maskload_ps(row + 8 * NV, tail_mask);
        if constexpr (Weighted) x = _mm256_mul_ps(w, x);
        acc_tail = _mm256_add_ps(acc_tail, x);
      }
    }
  }

  const bool scale_mean = f.mean && end > begin;
  const float scale = scale_mean ? 1.0f / static_cast<float>(end - begin) : 1.0f;
  const __m256 scale_v = _mm256_set1_ps(scale);
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    __m256 x = acc[v];
    if (scale_mean) x = _mm256_mul_ps(x, scale_v);
    if constexpr (Half) {
      if (f.round_half) x = _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    _mm256_storeu_ps(out + 8 * v, x);
  }
  if constexpr (Tail) {
    if constexpr (Half) {
      for (int t = 0; t < tail; ++t) {
        float x = acc_tail_half[t];
        if (scale_mean) x *= scale;
        out[8 * NV + t] = f.round_half ? _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)) : x;
      }
    } else {
      __m256 x = acc_tail;
      if (scale_mean) x = _mm256_mul_ps(x, scale_v);
      _mm256_maskstore_ps(out + 8 * NV, tail_mask, x);
    }
  }
  return true;
}

// Bags [b0, b1) of one feature. Its dim is 64 * full_blocks + 8 * NV + tail: whole 64-column blocks
// first, then the rest in one pass. Only the first pass prefetches (it requests whole rows), up to the
// end of this run of bags. Checked: the first pass checks each id; false at the first bad one.
template <int NV, bool Tail, typename Id, bool Half, bool Weighted, bool Checked>
TORCHREC_AVX2 bool pool_feature(const LookupPlan& plan, const FeaturePlan& f, int64_t b0, int64_t b1) {
  const Id* ids = static_cast<const Id*>(plan.ids);
  const float* weights = plan.weights;
  const int64_t full_blocks = f.dim / 64;
  const int tail = static_cast<int>(f.dim & 7);
  const int64_t prefetch = plan.prefetch_rows;
  const int64_t prefetch_end = prefetch > 0 ? f.offsets[b1] : 0;  // 0: never
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t begin = f.offsets[b];
    const int64_t end = f.offsets[b + 1];
    float* out = f.out + b * plan.out_width;
    int64_t pf_end = prefetch_end;
    int64_t col = 0;
    int64_t k = 0;
    if constexpr (Checked) {
      // The first pass reads every id of the bag: it alone checks them.
      if (full_blocks > 0) {
        if (!pool_columns<8, false, Id, Half, Weighted, true>(f, col, 0, ids, weights, begin, end, out, prefetch,
                                                              pf_end)) {
          return false;
        }
        k = 1, col = 64, pf_end = 0;
      } else if constexpr (NV > 0 || Tail) {
        if (!pool_columns<NV, Tail, Id, Half, Weighted, true>(f, col, tail, ids, weights, begin, end, out, prefetch,
                                                              pf_end)) {
          return false;
        }
        continue;
      }
    }
    for (; k < full_blocks; ++k, col += 64) {
      pool_columns<8, false, Id, Half, Weighted, false>(f, col, 0, ids, weights, begin, end, out + col, prefetch,
                                                        pf_end);
      pf_end = 0;
    }
    if constexpr (NV > 0 || Tail) {
      pool_columns<NV, Tail, Id, Half, Weighted, false>(f, col, tail, ids, weights, begin, end, out + col, prefetch,
                                                        pf_end);
    }
  }
  return true;
}

template <typename Id, bool Half, bool Weighted, bool Checked>
TORCHREC_AVX2 bool pool_feature_any_dim(const LookupPlan& plan, const FeaturePlan& f, int64_t b0, int64_t b1) {
  const int nv = static_cast<int>((f.dim % 64) / 8);
  if ((f.dim & 7) == 0) {
    switch (nv) {
      case 0: return pool_feature<0, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 1: return pool_feature<1, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 2: return pool_feature<2, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 3: return pool_feature<3, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 4: return pool_feature<4, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 5: return pool_feature<5, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      case 6: return pool_feature<6, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
      default: return pool_feature<7, false, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    }
  }
  switch (nv) {
    case 0: return pool_feature<0, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 1: return pool_feature<1, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 2: return pool_feature<2, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 3: return pool_feature<3, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 4: return pool_feature<4, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 5: return pool_feature<5, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    case 6: return pool_feature<6, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
    default: return pool_feature<7, true, Id, Half, Weighted, Checked>(plan, f, b0, b1);
  }
}

// Checked: stops at the first feature run with an id outside its table and sets plan.bad_id.
template <typename Id, bool Checked>
TORCHREC_AVX2 void run_bags(const LookupPlan& plan, int64_t begin_bag, int64_t end_bag) {
  // Feature by feature: the code for a feature's dim and dtype is chosen once per feature, not per bag.
  for (int64_t bag = begin_bag; bag < end_bag;) {
    const int64_t fi = bag / plan.batch;
    const int64_t b0 = bag - fi * plan.batch;
    const int64_t b1 = end_bag - fi * plan.batch < plan.batch ? end_bag - fi * plan.batch : plan.batch;
    const FeaturePlan& f = plan.features[fi];
    bool ok;
    if (f.half) {
      ok = plan.weights ? pool_feature_any_dim<Id, true, true, Checked>(plan, f, b0, b1)
                        : pool_feature_any_dim<Id, true, false, Checked>(plan, f, b0, b1);
    } else {
      ok = plan.weights ? pool_feature_any_dim<Id, false, true, Checked>(plan, f, b0, b1)
                        : pool_feature_any_dim<Id, false, false, Checked>(plan, f, b0, b1);
    }
    if (!ok) {
      plan.bad_id->store(true, std::memory_order_relaxed);
      return;
    }
    bag += b1 - b0;
  }
}

// Blocks of 64 ids are tested with two compares each and one branch per block; the scalar loop then
// finds the position inside the (rare) failing block.
TORCHREC_AVX2 int64_t first_bad64(const int64_t* ids, int64_t begin, int64_t end, int64_t num_rows) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i last = _mm256_set1_epi64x(num_rows - 1);
  int64_t i = begin;
  for (; i + 64 <= end; i += 64) {
    __m256i bad = zero;
    for (int k = 0; k < 64; k += 4) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ids + i + k));
      bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi64(zero, v), _mm256_cmpgt_epi64(v, last)));
    }
    if (!_mm256_testz_si256(bad, bad)) break;
  }
  for (; i < end; ++i) {
    if (ids[i] < 0 || ids[i] >= num_rows) return i;
  }
  return -1;
}

TORCHREC_AVX2 int64_t first_bad32(const int32_t* ids, int64_t begin, int64_t end, int64_t num_rows) {
  const __m256i zero = _mm256_setzero_si256();
  const int64_t last_row = num_rows - 1 < INT32_MAX ? num_rows - 1 : INT32_MAX;
  const __m256i last = _mm256_set1_epi32(static_cast<int32_t>(last_row));
  int64_t i = begin;
  for (; i + 64 <= end; i += 64) {
    __m256i bad = zero;
    for (int k = 0; k < 64; k += 8) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ids + i + k));
      bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpgt_epi32(zero, v), _mm256_cmpgt_epi32(v, last)));
    }
    if (!_mm256_testz_si256(bad, bad)) break;
  }
  for (; i < end; ++i) {
    if (ids[i] < 0 || ids[i] >= num_rows) return i;
  }
  return -1;
}

}  // namespace

TORCHREC_AVX2 void run_bags_avx2(const LookupPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t, false>(plan, begin, end);
  } else {
    run_bags<int32_t, false>(plan, begin, end);
  }
}

TORCHREC_AVX2 void run_bags_checked_avx2(const LookupPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t, true>(plan, begin, end);
  } else {
    run_bags<int32_t, true>(plan, begin, end);
  }
}

TORCHREC_AVX2 int64_t first_bad_id_avx2(const void* ids, bool ids_int64, int64_t begin, int64_t end, int64_t num_rows) {
  return ids_int64 ? first_bad64(static_cast<const int64_t*>(ids), begin, end, num_rows)
                   : first_bad32(static_cast<const int32_t*>(ids), begin, end, num_rows);
}

}  // namespace torchrec::kernels::detail

#endif  // x86
