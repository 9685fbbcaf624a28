// Element-wise helpers for the optimizer rules (kernels/sparse_backward_rows.h). sqrt gets SIMD
// intrinsics because -fmath-errno (the default) keeps compilers from vectorizing std::sqrt; the SIMD
// square root is IEEE-exact, so results are bit-identical to the scalar loop. Everything else in the
// rules is plain loops over __restrict pointers, which compilers vectorize without changing any rounding.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace torchrec::kernels {

// x[i] <- sqrt(x[i]) for i < n.
inline void sqrt_in_place(float* __restrict x, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#elif defined(__ARM_NEON) && defined(__aarch64__)
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vsqrtq_f32(vld1q_f32(x + i)));
#endif
  for (; i < n; ++i) x[i] = std::sqrt(x[i]);
}

// sum of x[i]^2 for i < n, in eight interleaved partial sums (sum j takes the i = j mod 8, in
// increasing i) combined as ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)). One running sum is a
// chain of dependent adds, 4 cycles each, that dominated a rowwise step; eight independent ones
// overlap. The order is fixed, so results do not depend on the CPU (FBGEMM sums lanes too).
inline float sum_of_squares(const float* __restrict x, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  __m128 lo = _mm_setzero_ps(), hi = _mm_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
    lo = _mm_add_ps(lo, _mm_mul_ps(a, a));
    hi = _mm_add_ps(hi, _mm_mul_ps(b, b));
  }
  float p[8];
  _mm_storeu_ps(p, lo);
  _mm_storeu_ps(p + 4, hi);
#else
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) p[j] += x[i + j] * x[i + j];
  }
#endif
  for (int j = 0; i + j < n; ++j) p[j] += x[i + j] * x[i + j];
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

}  // namespace torchrec::kernels
