#include "core/embedding_bag_collection.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <mutex>

#include "core/error.h"
#include "kernels/pooled_lookup_cpu.h"

namespace torchrec {
namespace {

std::vector<OutputBlock> plan_outputs(const std::vector<TableSpec>& tables, int64_t* width) {
  std::map<std::string, int> readers;
  for (const auto& table : tables) {
    for (const auto& feature : table.feature_names) readers[feature]++;
  }
  std::vector<OutputBlock> blocks;
  int64_t column = 0;
  for (size_t t = 0; t < tables.size(); ++t) {
    for (const auto& feature : tables[t].feature_names) {
      OutputBlock block;
      block.feature = feature;
      block.key = readers[feature] > 1 ? feature + "@" + tables[t].name : feature;
      block.table = static_cast<int64_t>(t);
      block.dim = tables[t].embedding_dim;
      block.column = column;
      column += block.dim;
      blocks.push_back(std::move(block));
    }
  }
  *width = column;
  return blocks;
}

at::Tensor init_table(const TableSpec& spec, at::Generator& gen) {
  at::Tensor w = at::empty({spec.num_embeddings, spec.embedding_dim}, at::kFloat);
  w.uniform_(spec.init_min, spec.init_max, gen);
  return spec.dtype == at::kHalf ? w.to(at::kHalf) : w;
}

}  // namespace

EmbeddingBagCollection::EmbeddingBagCollection(std::vector<TableSpec> tables, bool is_weighted, uint64_t seed,
                                               std::vector<std::optional<OptimizerSpec>> optimizers)
    : tables_(std::move(tables)), is_weighted_(is_weighted) {
  validate_table_specs(tables_, is_weighted_);
  if (!optimizers.empty() && optimizers.size() != tables_.size()) {
    fail(ErrorCode::InvalidConfig, "got ", optimizers.size(), " optimizer entries for ", tables_.size(), " tables");
  }
  optimizers_.resize(tables_.size());
  for (size_t t = 0; t < optimizers.size(); ++t) {
    if (optimizers[t])
      optimizers_[t] = make_optimizer(*optimizers[t], tables_[t].num_embeddings, tables_[t].embedding_dim);
  }
  outputs_ = plan_outputs(tables_, &output_width_);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  weights_.reserve(tables_.size());
  for (const auto& spec : tables_) {
    try {
      weights_.push_back(init_table(spec, gen));
    } catch (const c10::Error&) {
      fail(ErrorCode::InvalidConfig, "table \"", spec.name, "\": cannot allocate ", spec.num_embeddings, " x ",
           spec.embedding_dim, " weights");
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::InvalidConfig, "table \"", spec.name, "\": cannot allocate ", spec.num_embeddings, " x ",
           spec.embedding_dim, " weights");
    }
  }
}

// Everything forward and backward need from a KJT beyond its own consistency: weights when the
// collection is weighted, every feature a table reads, ids inside each table.
void EmbeddingBagCollection::check_batch(const KeyedJaggedTensor& kjt, const char* method) const {
  if (is_weighted_ && !kjt.has_weights()) {
    fail(ErrorCode::InvalidKjt, "this collection is weighted (isWeighted: true) but the KJT given to ", method,
         " has no weights");
  }
  kernels::PooledBatch batch;
  batch.offsets = kjt.offsets().data_ptr<int64_t>();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.batch = kjt.stride();
  for (const auto& block : outputs_) {
    const TableSpec& spec = tables_[block.table];
    const int64_t key = kjt.key_index(block.feature);
    if (key < 0) {
      fail(ErrorCode::MissingFeature, "feature \"", block.feature, "\" (read by table \"", spec.name,
           "\") is missing from the KJT");
    }
    if (auto bad = kernels::find_out_of_range(batch, key, spec.num_embeddings)) {
      fail(ErrorCode::IndexOutOfRange, "feature \"", block.feature, "\": id ", bad->value, " at values position ",
           bad->position, " is out of range for table \"", spec.name, "\" (num_embeddings ", spec.num_embeddings, ")");
    }
  }
}

void EmbeddingBagCollection::forward(const KeyedJaggedTensor& kjt, float* out) const {
  check_batch(kjt, "forward");
  kernels::PooledBatch batch;
  batch.offsets = kjt.offsets().data_ptr<int64_t>();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  // TorchRec ignores KJT weights when the collection is unweighted; so do we.
  batch.per_value_weights = is_weighted_ ? kjt.weights().data_ptr<float>() : nullptr;
  batch.batch = kjt.stride();
  batch.out = out;
  batch.out_width = output_width_;

  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<kernels::PooledFeature> features;
  features.reserve(outputs_.size());
  for (const auto& block : outputs_) {
    const TableSpec& spec = tables_[block.table];
    kernels::PooledFeature f;
    f.rows = weights_[block.table].data_ptr();
    f.half = spec.dtype == at::kHalf;
    f.num_rows = spec.num_embeddings;
    f.dim = spec.embedding_dim;
    f.key = kjt.key_index(block.feature);
    f.mean = spec.pooling == Pooling::Mean;
    f.out_column = block.column;
    features.push_back(f);
  }
  kernels::pooled_lookup_forward(features, batch);
}

at::Tensor EmbeddingBagCollection::forward(const KeyedJaggedTensor& kjt) const {
  at::Tensor out = at::empty({kjt.stride(), output_width_}, at::kFloat);
  forward(kjt, out.data_ptr<float>());
  return out;
}

int64_t EmbeddingBagCollection::table_index(const std::string& name) const {
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (tables_[t].name == name) return static_cast<int64_t>(t);
  }
  std::string known;
  for (const auto& spec : tables_) known += (known.empty() ? "" : ", ") + spec.name;
  fail(ErrorCode::InvalidArgument, "no table named \"", name, "\" (tables: ", known, ")");
}

at::Tensor EmbeddingBagCollection::get_weights(const std::string& table) const {
  const int64_t t = table_index(table);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return weights_[t].to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

void EmbeddingBagCollection::set_weights(const std::string& table, const float* data, int64_t numel) {
  const int64_t t = table_index(table);
  const TableSpec& spec = tables_[t];
  const int64_t expected = spec.num_embeddings * spec.embedding_dim;
  if (numel != expected) {
    fail(ErrorCode::Shape, "setWeights(\"", table, "\"): got ", numel, " values, expected ", spec.num_embeddings, " x ",
         spec.embedding_dim, " = ", expected);
  }
  at::Tensor src = at::from_blob(const_cast<float*>(data), {spec.num_embeddings, spec.embedding_dim}, at::kFloat);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  weights_[t].copy_(src);  // rounds to fp16 for fp16 tables
}

}  // namespace torchrec
