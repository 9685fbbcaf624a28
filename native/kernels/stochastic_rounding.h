// FBGEMM's stochastic rounding of fp32 to fp16 (fbgemm_gpu's stochastic_rounding_scalar), with random
// bits from a counter-based hash instead of a stateful generator, so a row's bits depend only on
// (seed, step, table, row, column): reproducible for a seed and call order, whatever the thread count
// or the order rows are updated in, and the same for a row whichever shard holds it.
//
// The recipe: take x's sign and exponent, put 13 random bits in the low mantissa bits (the float32
// mantissa bits below fp16's 10), subtract the value with those bits zero, so x gains a random fraction
// of an fp16 ulp (for x's float32 exponent) in x's direction, then convert to fp16 toward zero. The
// expected result is x (up to the spacing at binade and subnormal edges, as in FBGEMM).
#pragma once

#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>

#include "kernels/mix64.h"

namespace torchrec::kernels {

// Where a table's fp16 rows draw their rounding bits: the collection's seed, the step being applied,
// the table's index in the whole collection and the global index of the store's row 0 and column 0
// (a column-wise shard's columns draw the bits the whole table's columns draw).
struct StochasticRounding {
  uint64_t seed = 0;
  int64_t step = 0;
  int64_t table = 0;
  int64_t first_row = 0;
  int64_t first_col = 0;
};

// The key of one row's bits: folds (seed, step, table, global row) into 64 bits.
inline uint64_t sr_row_key(const StochasticRounding& sr, int64_t row) {
  uint64_t h = splitmix64(sr.seed);
  h = splitmix64(h ^ static_cast<uint64_t>(sr.step));
  h = splitmix64(h ^ static_cast<uint64_t>(sr.table));
  return splitmix64(h ^ static_cast<uint64_t>(sr.first_row + row));
}

// 32 random bits for column `column` of the row whose key is `row_key`.
inline uint32_t sr_bits(uint64_t row_key, int64_t column) {
  return static_cast<uint32_t>(splitmix64(row_key ^ (static_cast<uint64_t>(column) * 0xd6e8feb86659fd93ull)) >> 32);
}

// fp32 -> fp16 rounding toward zero (CUDA's __float2half_rz): round to nearest, then step back toward
// zero when that went past x (finite values past fp16's range give the largest finite fp16).
inline c10::Half half_toward_zero(float x) {
  c10::Half h(x);
  const float back = static_cast<float>(h);
  if (back == back && x == x && (back > 0 ? back > x : back < x)) h.x = static_cast<uint16_t>(h.x - 1);
  return h;
}

inline c10::Half stochastic_round_half(float x, uint32_t random) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t sign_exponent = bits & 0xff800000u;
  const uint32_t assembled = sign_exponent | (random >> 19);
  float with_noise, base;
  std::memcpy(&with_noise, &assembled, 4);
  std::memcpy(&base, &sign_exponent, 4);
  return half_toward_zero(x + (with_noise - base));
}

}  // namespace torchrec::kernels
