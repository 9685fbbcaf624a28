// Element-wise helpers for the optimizer rules. sqrt gets SIMD intrinsics because -fmath-errno (the
// default) keeps compilers from vectorizing std::sqrt; the SIMD square root is IEEE-exact, so
// results are bit-identical to the scalar loop. Everything else in the rules is plain loops over
// __restrict pointers, which compilers vectorize without changing any rounding.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace torchrec {

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

}  // namespace torchrec
