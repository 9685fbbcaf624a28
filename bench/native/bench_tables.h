// The tables every torchrec_bench implementation pools: the same deterministic values everywhere, so
// outputs can be compared across implementations (checksums), and the kernels' batches over them.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "bench_options.h"
#include "core/table_spec.h"

namespace bench {

float weight_value(int64_t table, int64_t index);
// Table t: fp32 or fp16 [rows][dim]; on huge pages (kernels::allocate_table) when huge_pages.
at::Tensor make_table(const Options& o, int64_t t, bool huge_pages);
// make_table's fp32 values, quantized row-wise to o.bits, a chunk at a time.
at::Tensor make_quantized_table(const Options& o, int64_t t);
// The core collection's table specs for the same configuration.
std::vector<torchrec::TableSpec> core_specs(const Options& o);

// A kernel's batch (kernels::PooledBatch or QuantizedBatch): `ids` (int64, key-major) pooled into
// `out`, [B][T * D], every bag L ids long (`offsets`).
template <typename Batch>
Batch kernel_batch(const Options& o, const std::vector<int64_t>& offsets, const int64_t* ids, std::vector<float>& out) {
  Batch batch;
  batch.offsets = offsets.data();
  batch.ids = ids;
  batch.ids_int64 = true;
  batch.batch = o.batch;
  batch.out = out.data();
  batch.out_width = o.tables * o.dim;
  return batch;
}

}  // namespace bench
