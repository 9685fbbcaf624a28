// The machine's ceiling for a quantized pooled lookup: a tight multi-threaded gather of rows of the
// quantized row size over the same ids, touching every byte of every row and writing the same [B][T*D]
// float output, with as little arithmetic as the loads allow (bytes summed with vpsadbw, no dequantize).
// What is left above it in the kernel is the dequantize-and-pool's own cost.
#pragma once

#include <cstdint>
#include <vector>

#include "ceiling.h"

namespace bench {

struct QuantizedCeilingInput {
  std::vector<const uint8_t*> tables;  // T tables, [rows][row_bytes]
  int64_t row_bytes = 0;
  int64_t dim = 0;
  const int64_t* ids = nullptr;  // key-major: table t's B bags of L ids each, T*B*L in all
  int64_t batch = 0;             // B
  int64_t pooling = 0;           // L, the same for every bag
  float* out = nullptr;          // [B][T*dim]
};

// Rows whose codes are whole 32-byte blocks (int8 and int4 at dims 64 and 128, int2 at 128).
bool quantized_ceiling_supported(int64_t row_bytes);
void run_quantized_ceiling(const QuantizedCeilingInput& in, const CeilingChoice& choice);

}  // namespace bench
