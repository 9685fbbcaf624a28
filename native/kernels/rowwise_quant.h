// Row-wise quantization of embedding rows in FBGEMM's TBE inference layout: per row an fp16 scale,
// an fp16 bias, then the codes of `bits` (8, 4 or 2) each, packed little-end first (int4: element 2j
// in the low nibble of byte j; int2: element 4j+k in bits 2k..2k+1). A value is scale * code + bias.
//
// quantize_rows is FBGEMM's FloatOrHalfToFusedNBitRowwiseQuantizedSBHalf(Ref) bit for bit (there the
// scale and bias come after the codes; the TBE inference tables FBGEMM serves from put them first).
#pragma once

#include <cstdint>

namespace torchrec::kernels {

// Bytes of the codes of one row, and of the whole stored row (4 bytes of scale and bias first).
inline int64_t packed_code_bytes(int64_t dim, int bits) {
  const int64_t per_byte = 8 / bits;
  return (dim + per_byte - 1) / per_byte;
}
inline int64_t quantized_row_bytes(int64_t dim, int bits) {
  return 4 + packed_code_bytes(dim, bits);
}

// Quantizes `rows` rows of `dim` floats (row-major) into `out`, quantized_row_bytes(dim, bits) each.
// Multi-threaded over rows for large inputs; each row's bytes depend on that row alone.
void quantize_rows(const float* in, int64_t rows, int64_t dim, int bits, uint8_t* out);

// The inverse: `rows` stored rows to float32 (scale * code + bias, fp32 multiply then add, as FBGEMM's
// FusedNBitRowwiseQuantizedSBHalfToFloat).
void dequantize_rows(const uint8_t* in, int64_t rows, int64_t dim, int bits, float* out);

}  // namespace torchrec::kernels
