#include "kernels/rowwise_quant.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu_parallel.h"

namespace torchrec::kernels {
namespace {

// Below this many values a call stays on the calling thread.
constexpr int64_t kParallelValues = int64_t{1} << 18;

uint16_t half_bits(float x) {
  return c10::Half(x).x;  // round to nearest even, as FBGEMM's cpu_float2half_rn
}
float from_half_bits(uint16_t bits) {
  return static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
}

// One row, following FBGEMM's reference step by step: the bias is the row minimum rounded to fp16;
// the scale is the range over 2^bits - 1 rounded to fp16 (1 for a constant row or a scale whose
// reciprocal overflows); codes are lrintf((x - bias) * (1 / scale)) clamped to [0, 2^bits - 1].
void quantize_row(const float* in, int64_t dim, int bits, uint8_t* out) {
  float minimum = *std::min_element(in, in + dim);
  const float maximum = *std::max_element(in, in + dim);
  const uint16_t minimum_half = half_bits(minimum);
  minimum = from_half_bits(minimum_half);
  const float range = maximum - minimum;
  float scale = range == 0 ? 1.0f : range / static_cast<float>((1 << bits) - 1);
  scale = from_half_bits(half_bits(scale));
  if (scale == 0) scale = 1.0f;
  float inverse_scale = 1.0f / scale;
  if (std::isinf(inverse_scale)) {
    scale = 1.0f;
    inverse_scale = 1.0f;
  }
  const uint16_t scale_bias[2] = {half_bits(scale), minimum_half};
  std::memcpy(out, scale_bias, sizeof(scale_bias));
  uint8_t* codes = out + 4;
  const int per_byte = 8 / bits;
  const int top = (1 << bits) - 1;
  std::memset(codes, 0, packed_code_bytes(dim, bits));
  for (int64_t col = 0; col < dim; ++col) {
    const long q = std::lrintf((in[col] - minimum) * inverse_scale);
    const int code = static_cast<int>(std::max<long>(0, std::min<long>(q, top)));
    codes[col / per_byte] |= static_cast<uint8_t>(code << ((col % per_byte) * bits));
  }
}

void dequantize_row(const uint8_t* in, int64_t dim, int bits, float* out) {
  uint16_t scale_bias[2];
  std::memcpy(scale_bias, in, sizeof(scale_bias));
  const float scale = from_half_bits(scale_bias[0]);
  const float bias = from_half_bits(scale_bias[1]);
  const uint8_t* codes = in + 4;
  const int per_byte = 8 / bits;
  const int mask = (1 << bits) - 1;
  for (int64_t col = 0; col < dim; ++col) {
    const int code = (codes[col / per_byte] >> ((col % per_byte) * bits)) & mask;
    out[col] = scale * static_cast<float>(code) + bias;
  }
}

template <typename F>
void over_rows(int64_t rows, int64_t dim, const F& row_fn) {
  const int threads = rows * dim >= kParallelValues ? intra_op_threads() : 1;
  if (threads <= 1) {
    for (int64_t r = 0; r < rows; ++r) row_fn(r);
    return;
  }
  fork_join(threads, [&](int thread, int count) {
    const int64_t begin = rows * thread / count;
    const int64_t end = rows * (thread + 1) / count;
    for (int64_t r = begin; r < end; ++r) row_fn(r);
  });
}

}  // namespace

void quantize_rows(const float* in, int64_t rows, int64_t dim, int bits, uint8_t* out) {
  const int64_t row_bytes = quantized_row_bytes(dim, bits);
  over_rows(rows, dim, [&](int64_t r) { quantize_row(in + r * dim, dim, bits, out + r * row_bytes); });
}

void dequantize_rows(const uint8_t* in, int64_t rows, int64_t dim, int bits, float* out) {
  const int64_t row_bytes = quantized_row_bytes(dim, bits);
  over_rows(rows, dim, [&](int64_t r) { dequantize_row(in + r * row_bytes, dim, bits, out + r * dim); });
}

}  // namespace torchrec::kernels
