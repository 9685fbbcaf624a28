#include "core/cpu_table_store.h"

#include "core/error.h"
#include "core/kernel_batch.h"
#include "core/managed_ids.h"
#include "kernels/cpu_parallel.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/sparse_backward_cpu.h"
#include "kernels/table_memory.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec {

at::Tensor draw_initial_table(const TableSpec& spec, uint64_t seed, TableOrigin origin) {
  try {
    at::Tensor w = kernels::allocate_table(spec.num_embeddings, spec.embedding_dim, spec.dtype);
    kernels::fill_hashed(w, spec.init_min, spec.init_max, seed, origin.table, origin.first_row, origin.first_col);
    return w;
  } catch (const Error& e) {
    // A size that cannot exist (its byte count overflows): the config's fault, named by table.
    throw Error(e.code(), message_of("table \"", spec.name, "\": ", e.what()));
  } catch (const c10::Error&) {
  } catch (const std::bad_alloc&) {
  }
  fail(ErrorCode::OutOfMemory, "table \"", spec.name, "\": cannot allocate ", spec.num_embeddings, " x ",
       spec.embedding_dim, " weights");
}

CpuTableStore::CpuTableStore(const std::vector<TableSpec>& tables,
                             const std::vector<std::optional<OptimizerSpec>>& optimizers, uint64_t seed,
                             const std::vector<TableOrigin>& origins, bool stochastic_rounding)
    : tables_(tables), seed_(seed), stochastic_rounding_(stochastic_rounding) {
  for (size_t t = 0; t < tables_.size(); ++t) {
    origins_.push_back(t < origins.size() ? origins[t] : TableOrigin{static_cast<int64_t>(t), 0});
    weights_.push_back(draw_initial_table(tables_[t], seed, origins_.back()));
  }
  table_features_ = dense_table_features(tables_, weights_, origins_);
  optimizers_.resize(tables_.size());
  for (size_t t = 0; t < optimizers.size() && t < tables_.size(); ++t) {
    if (optimizers[t]) {
      optimizers_[t] = make_optimizer(*optimizers[t], tables_[t].num_embeddings, tables_[t].embedding_dim);
    }
  }
}

std::vector<kernels::PooledFeature> dense_table_features(const std::vector<TableSpec>& tables,
                                                         const std::vector<at::Tensor>& weights,
                                                         const std::vector<TableOrigin>& origins) {
  std::vector<kernels::PooledFeature> features(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    kernels::PooledFeature& f = features[t];
    f.rows = weights[t].data_ptr();
    f.half = tables[t].dtype == at::kHalf;
    f.round_half = t >= origins.size() || !origins[t].partial_sums;
    f.num_rows = tables[t].num_embeddings;
    f.dim = tables[t].embedding_dim;
  }
  return features;
}

void dense_pooled_forward(const std::vector<kernels::PooledFeature>& table_features, const LookupPlan& plan,
                          const PlannedBatch& planned, float* out) {
  // On the stack for ordinary collections: no allocation per call (issue 19).
  c10::SmallVector<kernels::PooledFeature, 16> features(plan.outputs().size());
  for (size_t i = 0; i < plan.outputs().size(); ++i) {
    const OutputBlock& block = plan.outputs()[i];
    kernels::PooledFeature& f = features[i];
    f = table_features[block.table];
    f.key = planned.block_key(i);
    f.mean = block.mean;
    f.out_column = block.column;
    f.remap = id_remap(planned.remapped(i));
  }
  kernels::PooledBatch batch = kernel_batch<kernels::PooledBatch>(plan, planned, out);
  batch.check_ids = !planned.ids_checked();
  if (!kernels::pooled_lookup_forward(features.data(), static_cast<int64_t>(features.size()), batch)) {
    plan.report_bad_ids(planned);
  }
}

void CpuTableStore::forward(const LookupPlan& plan, const PlannedBatch& planned, float* out) const {
  dense_pooled_forward(table_features_, plan, planned, out);
}

void CpuTableStore::backward(const LookupPlan& plan, const PlannedBatch& planned, const float* grad,
                             const std::vector<OptimizerStep>& steps) {
  const KeyedJaggedTensor& kjt = planned.kjt();
  kernels::BackwardBatch batch;
  batch.offsets = kjt.offsets().data();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.per_value_weights = planned.per_value_weights();
  batch.batch = kjt.stride();
  batch.grad = grad;
  batch.grad_width = plan.output_width();

  // Everything that allocates happens here, before the first row moves.
  const size_t num_tables = tables_.size();
  std::vector<kernels::BackwardTable> tables(num_tables);
  std::vector<kernels::StochasticRounding> rounding(num_tables);
  for (size_t t = 0; t < num_tables; ++t) {
    rounding[t] = {seed_, steps[t].t, origins_[t].table, origins_[t].first_row, origins_[t].first_col};
    if (stochastic_rounding_) tables[t].rounding = &rounding[t];
    const TableSpec& spec = tables_[t];
    kernels::BackwardTable& table = tables[t];
    table.rows = weights_[t].data_ptr();
    table.half = spec.dtype == at::kHalf;
    table.num_rows = spec.num_embeddings;
    table.dim = spec.embedding_dim;
    for (size_t b = 0; b < plan.outputs().size(); ++b) {
      const OutputBlock& block = plan.outputs()[b];
      if (block.table == static_cast<int64_t>(t))
        table.features.push_back({planned.block_key(b), block.column, block.mean});
    }
    table.rule = optimizers_[t]->row_rule(steps[t]);
  }
  kernels::sparse_backward(tables, batch, workspace_, kernels::intra_op_threads());
}

at::Tensor CpuTableStore::read_rows(int64_t table, int64_t begin, int64_t count) const {
  return weights_.at(table).narrow(0, begin, count).clone();
}

void CpuTableStore::write_rows(int64_t table, int64_t begin, const at::Tensor& rows) {
  weights_.at(table).narrow(0, begin, rows.size(0)).copy_(rows);  // rounds to fp16 for fp16 tables
}

at::Tensor CpuTableStore::read_state(int64_t table, size_t index) const {
  return optimizers_.at(table)->state_copy(index);
}

void CpuTableStore::write_state(int64_t table, size_t index, const float* data, int64_t numel) {
  optimizers_.at(table)->set_state(index, data, numel);
}

void CpuTableStore::allocate_state(int64_t table) {
  optimizers_.at(table)->ensure_state();
}

double CpuTableStore::mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const {
  const TableSpec& spec = tables_.at(table);
  return kernels::mean_row_norm(weights_[table].data_ptr(), spec.dtype == at::kHalf, spec.num_embeddings,
                                spec.embedding_dim, max_rows, seed);
}

}  // namespace torchrec
