#include "core/quantized_table_store.h"

#include <algorithm>

#include "core/cpu_table_store.h"
#include "core/error.h"
#include "core/kernel_batch.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/quantized_pool_cpu.h"
#include "kernels/rowwise_quant.h"
#include "kernels/table_memory.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec {
namespace {

// Rows drawn and quantized at a time at construction: the float draw never holds a whole table.
constexpr int64_t kDrawRows = 1 << 14;

at::Tensor draw_quantized_table(const TableSpec& spec, uint64_t seed, int64_t table_index) {
  const int bits = quantized_bits(spec.dtype);
  const int64_t row_bytes = kernels::quantized_row_bytes(spec.embedding_dim, bits);
  at::Tensor stored;
  try {
    stored = kernels::allocate_table(spec.num_embeddings, row_bytes, at::kByte);
  } catch (const Error& e) {
    throw Error(e.code(), message_of("table \"", spec.name, "\": ", e.what()));
  } catch (const c10::Error&) {
  } catch (const std::bad_alloc&) {
  }
  if (!stored.defined()) {
    fail(ErrorCode::OutOfMemory, "table \"", spec.name, "\": cannot allocate ", spec.num_embeddings, " rows of ",
         row_bytes, " bytes");
  }
  const int64_t chunk = std::min(kDrawRows, spec.num_embeddings);
  at::Tensor values = at::empty({chunk, spec.embedding_dim}, at::kFloat);
  for (int64_t first = 0; first < spec.num_embeddings; first += chunk) {
    const int64_t n = std::min(chunk, spec.num_embeddings - first);
    at::Tensor part = values.narrow(0, 0, n);
    kernels::fill_hashed(part, spec.init_min, spec.init_max, seed, table_index, first);
    kernels::quantize_rows(part.data_ptr<float>(), n, spec.embedding_dim, bits,
                           stored.data_ptr<uint8_t>() + first * row_bytes);
  }
  return stored;
}

}  // namespace

at::Tensor dequantize_table_rows(const at::Tensor& stored, int64_t dim, int bits) {
  at::Tensor out = at::empty({stored.size(0), dim}, at::kFloat);
  const at::Tensor in = stored.contiguous();
  kernels::dequantize_rows(in.data_ptr<uint8_t>(), in.size(0), dim, bits, out.data_ptr<float>());
  return out;
}

QuantizedTableStore::QuantizedTableStore(const std::vector<TableSpec>& tables, uint64_t seed) : tables_(tables) {
  for (size_t t = 0; t < tables_.size(); ++t) {
    const TableSpec& spec = tables_[t];
    weights_.push_back(quantized_bits(spec.dtype) > 0
                           ? draw_quantized_table(spec, seed, static_cast<int64_t>(t))
                           : draw_initial_table(spec, seed, TableOrigin{static_cast<int64_t>(t), 0}));
  }
}

void QuantizedTableStore::forward(const LookupPlan& plan, const PlannedBatch& planned, float* out) const {
  std::vector<kernels::PooledFeature> dense;
  std::vector<kernels::QuantizedFeature> quantized;
  for (size_t i = 0; i < plan.outputs().size(); ++i) {
    const OutputBlock& block = plan.outputs()[i];
    const TableSpec& spec = tables_[block.table];
    const int bits = quantized_bits(spec.dtype);
    if (bits > 0) {
      kernels::QuantizedFeature f;
      f.rows = weights_[block.table].data_ptr<uint8_t>();
      f.bits = bits;
      f.dim = spec.embedding_dim;
      f.key = planned.block_key(i);
      f.mean = block.mean;
      f.out_column = block.column;
      quantized.push_back(f);
    } else {
      kernels::PooledFeature f;
      f.rows = weights_[block.table].data_ptr();
      f.half = spec.dtype == at::kHalf;
      f.num_rows = spec.num_embeddings;
      f.dim = spec.embedding_dim;
      f.key = planned.block_key(i);
      f.mean = block.mean;
      f.out_column = block.column;
      dense.push_back(f);
    }
  }
  if (!dense.empty()) {
    kernels::pooled_lookup_forward(dense, kernel_batch<kernels::PooledBatch>(plan, planned, out));
  }
  if (!quantized.empty()) {
    kernels::quantized_pool_forward(quantized, kernel_batch<kernels::QuantizedBatch>(plan, planned, out));
  }
}

void QuantizedTableStore::refuse_training(int64_t table, const char* what) const {
  fail(ErrorCode::InvalidMode, what, ": table \"", tables_.at(table).name, "\" is in a collection with quantized (",
       "int8/int4/int2) tables, which is for inference only and has no optimizer");
}

void QuantizedTableStore::backward(const LookupPlan&, const PlannedBatch&, const float*,
                                   const std::vector<OptimizerStep>&) {
  refuse_training(0, "backward");
}

at::Tensor QuantizedTableStore::read_rows(int64_t table, int64_t begin, int64_t count) const {
  return weights_.at(table).narrow(0, begin, count).clone();
}

void QuantizedTableStore::write_rows(int64_t table, int64_t begin, const at::Tensor& rows) {
  const TableSpec& spec = tables_.at(table);
  const int bits = quantized_bits(spec.dtype);
  at::Tensor target = weights_[table].narrow(0, begin, rows.size(0));
  if (bits == 0 || rows.scalar_type() == at::kByte) {
    target.copy_(rows);  // dense (rounds to fp16 for fp16 tables), or stored quantized bytes as they are
    return;
  }
  const at::Tensor values = rows.to(at::kFloat).contiguous();  // finite: check_quantized_weights
  kernels::quantize_rows(values.data_ptr<float>(), values.size(0), spec.embedding_dim, bits,
                         target.data_ptr<uint8_t>());
}

at::Tensor QuantizedTableStore::read_state(int64_t table, size_t) const {
  refuse_training(table, "optimizer state");
}

void QuantizedTableStore::write_state(int64_t table, size_t, const float*, int64_t) {
  refuse_training(table, "optimizer state");
}

void QuantizedTableStore::allocate_state(int64_t table) {
  refuse_training(table, "optimizer state");
}

double QuantizedTableStore::mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const {
  const TableSpec& spec = tables_.at(table);
  const int bits = quantized_bits(spec.dtype);
  if (bits == 0) {
    return kernels::mean_row_norm(weights_[table].data_ptr(), spec.dtype == at::kHalf, spec.num_embeddings,
                                  spec.embedding_dim, max_rows, seed);
  }
  const at::Tensor values = dequantize_table_rows(weights_[table], spec.embedding_dim, bits);
  return kernels::mean_row_norm(values.data_ptr(), false, spec.num_embeddings, spec.embedding_dim, max_rows, seed);
}

}  // namespace torchrec
