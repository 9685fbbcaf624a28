// The training half of EmbeddingBagCollection: the fused sparse backward with in-backward optimizer
// step, optimizer state access, the step counter and table norms.
#include <algorithm>
#include <cmath>

#include "core/embedding_bag_collection.h"
#include "core/error.h"
#include "kernels/cpu_parallel.h"
#include "kernels/sparse_backward_cpu.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec {

void EmbeddingBagCollection::backward(const KeyedJaggedTensor& input, const float* grad, int64_t grad_numel,
                                      const LearningRateWindow& lrs) {
  // Validate everything first: an update is all-or-nothing.
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!optimizers_[t]) {
      fail(ErrorCode::InvalidConfig, "backward: table \"", tables_[t].name,
           "\" has no optimizer; give it an `optimizer` in its config or give the collection one");
    }
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  // Vocab tables: the same mapping as forward (same rows; dropped ids contribute nothing).
  const bool by_block = has_vocab_;
  std::optional<KeyedJaggedTensor> remapped;
  if (by_block) remapped.emplace(remap(input, /*count=*/false));
  const KeyedJaggedTensor& kjt = by_block ? *remapped : input;
  check_batch(kjt, "backward", by_block);
  const int64_t batch_size = kjt.stride();
  const int64_t expected = batch_size * output_width_;
  if (grad_numel != expected) {
    fail(ErrorCode::Shape, "backward: gradOutput has ", grad_numel, " values, expected [", batch_size, "][",
         output_width_, "] = ", expected, " (batch size x the sum of the output dims)");
  }
  if (auto bad = kernels::find_non_finite(grad, grad_numel)) {
    fail(ErrorCode::InvalidArgument, "backward: gradOutput[", *bad, "] (sample ", *bad / output_width_, ", column ",
         *bad % output_width_, ") is not finite (", grad[*bad], "); no weight was changed");
  }

  const int64_t num_tables = static_cast<int64_t>(tables_.size());
  const int64_t t = step_.load() + 1;
  const int64_t slot = t - 1 - lrs.base_step;
  if (slot < 0 || (slot + 1) * num_tables > static_cast<int64_t>(lrs.values.size())) {
    fail(ErrorCode::Internal, "backward: no learning rate given for step ", t, " (rates cover steps ",
         lrs.base_step + 1, " to ",
         lrs.base_step + static_cast<int64_t>(lrs.values.size()) / std::max<int64_t>(1, num_tables), ")");
  }
  std::vector<float> lr(num_tables);
  for (int64_t i = 0; i < num_tables; ++i) {
    const double value = lrs.values[slot * num_tables + i];
    if (!std::isfinite(value) || value < 0) {
      fail(ErrorCode::InvalidArgument, "backward: the learning rate of table \"", tables_[i].name, "\" for step ", t,
           " is ", value, "; it must be a finite number >= 0");
    }
    lr[i] = static_cast<float>(value);
  }

  kernels::BackwardBatch batch;
  batch.offsets = kjt.offsets().data_ptr<int64_t>();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.per_value_weights = is_weighted_ ? kjt.weights().data_ptr<float>() : nullptr;
  batch.batch = batch_size;
  batch.grad = grad;
  batch.grad_width = output_width_;

  // Everything that allocates happens here, before the first row moves.
  std::vector<kernels::BackwardTable> plans(num_tables);
  for (int64_t i = 0; i < num_tables; ++i) {
    const TableSpec& spec = tables_[i];
    kernels::BackwardTable& plan = plans[i];
    plan.rows = weights_[i].data_ptr();
    plan.half = spec.dtype == at::kHalf;
    plan.num_rows = spec.num_embeddings;
    plan.dim = spec.embedding_dim;
    for (size_t b = 0; b < outputs_.size(); ++b) {
      const OutputBlock& block = outputs_[b];
      if (block.table != i) continue;
      plan.features.push_back({block_key(kjt, b, by_block), block.column, spec.pooling == Pooling::Mean});
    }
    optimizers_[i]->ensure_state();
  }
  const int threads = kernels::intra_op_threads();
  const std::vector<kernels::RowGroups> groups = kernels::group_rows(plans, batch, threads);

  for (int64_t i = 0; i < num_tables; ++i) {
    TableOptimizer* optimizer = optimizers_[i].get();
    const OptimizerStep step = optimizer->make_step(lr[i], t);
    kernels::apply_row_updates(
        plans[i], batch, groups[i],
        [&](int64_t row, float* w, const float* g, float* scratch) { optimizer->update_row(row, w, g, scratch, step); },
        [&](int64_t row) { optimizer->prefetch_state(row); }, threads);
  }
  step_.store(t);
}

void EmbeddingBagCollection::set_step(int64_t step) {
  if (step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", step);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  step_.store(step);
}

std::vector<std::pair<std::string, at::Tensor>> EmbeddingBagCollection::optimizer_state(
    const std::string& table) const {
  const int64_t t = table_index(table);
  std::vector<std::pair<std::string, at::Tensor>> out;
  const TableOptimizer* optimizer = optimizers_[t].get();
  if (optimizer == nullptr) return out;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (size_t i = 0; i < optimizer->state_specs().size(); ++i) {
    out.emplace_back(optimizer->state_specs()[i].name, optimizer->state_copy(i));
  }
  return out;
}

void EmbeddingBagCollection::set_optimizer_state(const std::string& table, const std::string& name, const float* data,
                                                 int64_t numel) {
  const int64_t t = table_index(table);
  TableOptimizer* optimizer = optimizers_[t].get();
  std::string known;
  if (optimizer != nullptr) {
    for (size_t i = 0; i < optimizer->state_specs().size(); ++i) {
      if (optimizer->state_specs()[i].name != name) continue;
      std::unique_lock<std::shared_mutex> lock(mutex_);
      optimizer->set_state(i, data, numel);
      return;
    }
    for (const auto& s : optimizer->state_specs()) known += (known.empty() ? "" : ", ") + s.name;
  }
  fail(ErrorCode::InvalidArgument, "setOptimizerState(\"", table, "\", \"", name, "\"): table \"", table,
       "\" has no optimizer state named \"", name, "\" (it has: ", known.empty() ? "none" : known, ")");
}

std::vector<double> EmbeddingBagCollection::table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                                        uint64_t seed) const {
  if (max_rows <= 0) fail(ErrorCode::InvalidArgument, "tableNorms: the sample size must be positive, got ", max_rows);
  std::vector<int64_t> indices;
  for (const auto& name : tables) indices.push_back(table_index(name));
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<double> norms;
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t t = indices[k];
    const TableSpec& spec = tables_[t];
    norms.push_back(kernels::mean_row_norm(weights_[t].data_ptr(), spec.dtype == at::kHalf, spec.num_embeddings,
                                           spec.embedding_dim, max_rows, seed + k));
  }
  return norms;
}

}  // namespace torchrec
