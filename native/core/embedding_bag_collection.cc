#include "core/embedding_bag_collection.h"

#include <mutex>

#include "core/error.h"
#include "core/host_tensor.h"
#include "core/quantized_table_store.h"
#include "core/table_state_rules.h"

namespace torchrec {

EmbeddingBagCollection::EmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed,
                                               std::vector<std::optional<OptimizerSpec>> optimizers,
                                               const std::string& device, bool stochastic_rounding)
    : plan_(std::move(tables), is_weighted), optimizers_(std::move(optimizers)), seed_(seed) {
  const size_t num_tables = plan_.tables().size();
  if (!optimizers_.empty() && optimizers_.size() != num_tables) {
    fail(ErrorCode::InvalidConfig, "got ", optimizers_.size(), " optimizer entries for ", num_tables, " tables");
  }
  optimizers_.resize(num_tables);
  for (size_t t = 0; t < num_tables; ++t) {
    if (optimizers_[t]) validate_optimizer_spec(*optimizers_[t], "tables[" + std::to_string(t) + "].optimizer");
  }
  store_ = make_table_store(device, plan_.tables(), optimizers_, seed, stochastic_rounding);
}

void EmbeddingBagCollection::forward(const KeyedJaggedTensor& input, float* out) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const PlannedBatch batch =
      plan_.plan(input, "forward", /*count=*/true, store_->pools_managed_ids(), store_->checks_ids_while_pooling());
  store_->forward(plan_, batch, out);
}

at::Tensor EmbeddingBagCollection::forward(const KeyedJaggedTensor& kjt) const {
  at::Tensor out = empty_host({kjt.stride(), plan_.output_width()}, at::kFloat);
  forward(kjt, out.data_ptr<float>());
  return out;
}

at::Tensor EmbeddingBagCollection::get_weights(const std::string& table) const {
  const TableSpec& spec = plan_.tables()[plan_.table_index(table)];
  if (const int bits = quantized_bits(spec.dtype)) {
    return dequantize_table_rows(read_weights(table), spec.embedding_dim, bits);
  }
  return read_weights(table).to(at::kFloat);
}

at::Tensor EmbeddingBagCollection::read_weights(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return store_->read_rows(t, 0, plan_.tables()[t].num_embeddings);
}

void EmbeddingBagCollection::check_weights(int64_t t, const at::Tensor& values, const char* method) const {
  check_table_weights(plan_.tables()[t], values, method);
}

void EmbeddingBagCollection::set_weights(const std::string& table, const at::Tensor& values) {
  const int64_t t = plan_.table_index(table);
  check_weights(t, values, "setWeights");
  const TableSpec& spec = plan_.tables()[t];
  const at::Tensor rows = values.reshape({spec.num_embeddings, -1});
  std::unique_lock<std::shared_mutex> lock(mutex_);
  store_->write_rows(t, 0, rows);
}

void EmbeddingBagCollection::set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n,
                                       int64_t oov_row) {
  const int64_t t = plan_.table_index(table);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  plan_.set_vocab(t, ids, rows, n, oov_row);
}

std::vector<LookupPlan::VocabStats> EmbeddingBagCollection::vocab_stats() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return plan_.vocab_stats();
}

}  // namespace torchrec
