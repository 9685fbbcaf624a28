// The machine's ceiling for the pooled lookup: a tight multi-threaded row-gather-and-sum over the same
// ids, with everything known at compile time (dim, dtype, bag length layout) and nothing checked.
#pragma once

#include <cstdint>
#include <vector>

namespace bench {

struct CeilingInput {
  std::vector<const void*> tables;  // T tables, [rows][dim], float or fp16 bits
  bool half = false;
  int64_t dim = 0;
  const int64_t* ids = nullptr;  // key-major: table t's B bags of L ids each, T*B*L in all
  int64_t batch = 0;             // B
  int64_t pooling = 0;           // L, the same for every bag
  float* out = nullptr;          // [B][T*dim]
};

struct CeilingChoice {
  int prefetch = 0;  // rows ahead: 0, 8, 16 or 32
  int threads = 1;   // OpenMP team size
};

// Supported dims: 16, 32, 64, 128.
bool ceiling_supported(int64_t dim);
void run_ceiling(const CeilingInput& in, const CeilingChoice& choice);

}  // namespace bench
