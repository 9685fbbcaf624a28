#include "bench_tables.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <string>

#include "kernels/rowwise_quant.h"
#include "kernels/table_memory.h"

namespace bench {

// The same deterministic small values in every C++ implementation, so their outputs can be compared.
float weight_value(int64_t table, int64_t index) {
  uint64_t x = static_cast<uint64_t>(table) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (static_cast<float>(x & 0xFFFF) / 65536.0f - 0.5f) * 0.02f;
}

at::Tensor make_table(const Options& o, int64_t t, bool huge_pages) {
  const at::ScalarType dtype = o.half ? at::kHalf : at::kFloat;
  at::Tensor w =
      huge_pages ? torchrec::kernels::allocate_table(o.rows, o.dim, dtype) : at::empty({o.rows, o.dim}, dtype);
  const int64_t n = o.rows * o.dim;
  if (o.half) {
    auto* p = static_cast<c10::Half*>(w.data_ptr());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = c10::Half(weight_value(t, i));
  } else {
    auto* p = w.data_ptr<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = weight_value(t, i);
  }
  return w;
}

// The same values as make_table's fp32 table, quantized row-wise a chunk at a time.
at::Tensor make_quantized_table(const Options& o, int64_t t) {
  const int64_t row_bytes = torchrec::kernels::quantized_row_bytes(o.dim, o.bits);
  at::Tensor q = o.thp ? torchrec::kernels::allocate_table(o.rows, row_bytes, at::kByte)
                       : at::empty({o.rows, row_bytes}, at::kByte);
  constexpr int64_t kChunk = 1 << 14;
  std::vector<float> values(static_cast<size_t>(kChunk * o.dim));
  for (int64_t first = 0; first < o.rows; first += kChunk) {
    const int64_t n = std::min(kChunk, o.rows - first);
    for (int64_t i = 0; i < n * o.dim; ++i) values[i] = weight_value(t, first * o.dim + i);
    torchrec::kernels::quantize_rows(values.data(), n, o.dim, o.bits, q.data_ptr<uint8_t>() + first * row_bytes);
  }
  return q;
}

std::vector<torchrec::TableSpec> core_specs(const Options& o) {
  std::vector<torchrec::TableSpec> specs;
  for (int64_t t = 0; t < o.tables; ++t) {
    torchrec::TableSpec s;
    s.name = "t" + std::to_string(t);
    s.num_embeddings = o.rows;
    s.embedding_dim = o.dim;
    s.dtype = o.half ? at::kHalf : at::kFloat;
    s.feature_names = {"f" + std::to_string(t)};
    s.init_min = -0.01;
    s.init_max = 0.01;
    specs.push_back(s);
  }
  return specs;
}

}  // namespace bench
