#include "core/embedding_bag_collection.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <mutex>

#include "core/error.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/table_memory.h"

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

// Large tables on transparent huge pages (far fewer TLB misses on random rows); fp16 tables filled
// through a small float buffer, never a full-size float copy. Same values as uniform_ then .to(dtype).
at::Tensor init_table(const TableSpec& spec, at::Generator& gen) {
  at::Tensor w = kernels::allocate_table(spec.num_embeddings, spec.embedding_dim, spec.dtype);
  kernels::fill_uniform(w, spec.init_min, spec.init_max, gen);
  return w;
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
  vocabs_.resize(tables_.size());
  oov_rows_.assign(tables_.size(), -1);
  vocab_lookups_.reset(new std::atomic<int64_t>[tables_.size()]);
  vocab_missing_.reset(new std::atomic<int64_t>[tables_.size()]);
  for (size_t t = 0; t < tables_.size(); ++t) {
    vocab_lookups_[t].store(0);
    vocab_missing_[t].store(0);
  }
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
void EmbeddingBagCollection::check_batch(const KeyedJaggedTensor& kjt, const char* method, bool by_block) const {
  if (is_weighted_ && !kjt.has_weights()) {
    fail(ErrorCode::InvalidKjt, "this collection is weighted (isWeighted: true) but the KJT given to ", method,
         " has no weights");
  }
  kernels::PooledBatch batch;
  batch.offsets = kjt.offsets().data_ptr<int64_t>();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.batch = kjt.stride();
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const OutputBlock& block = outputs_[i];
    const TableSpec& spec = tables_[block.table];
    const int64_t key = block_key(kjt, i, by_block);
    if (key < 0) {
      fail(ErrorCode::MissingFeature, "feature \"", block.feature, "\" (read by table \"", spec.name,
           "\") is missing from the KJT");
    }
    if (auto bad = kernels::find_out_of_range(batch, key, spec.num_embeddings)) {
      fail(ErrorCode::IndexOutOfRange, "feature \"", block.feature, "\": id ", bad->value, " at values position ",
           bad->position, by_block ? " (of this table's ids)" : "", " is out of range for table \"", spec.name,
           "\" (num_embeddings ", spec.num_embeddings, ")");
    }
  }
}

KeyedJaggedTensor EmbeddingBagCollection::remap(const KeyedJaggedTensor& kjt, bool count) const {
  const int64_t batch_size = kjt.stride();
  const int64_t* in_offsets = kjt.offsets().data_ptr<int64_t>();
  const bool ids64 = kjt.values().scalar_type() == at::kLong;
  const int64_t* ids_l = ids64 ? kjt.values().data_ptr<int64_t>() : nullptr;
  const int32_t* ids_i = ids64 ? nullptr : kjt.values().data_ptr<int32_t>();
  const bool weighted = is_weighted_ && kjt.has_weights();
  const float* in_weights = weighted ? kjt.weights().data_ptr<float>() : nullptr;

  std::vector<std::string> keys;
  std::vector<int64_t> feature_keys;
  int64_t upper = 0;
  for (const auto& block : outputs_) {
    const int64_t key = kjt.key_index(block.feature);
    if (key < 0) {
      fail(ErrorCode::MissingFeature, "feature \"", block.feature, "\" (read by table \"", tables_[block.table].name,
           "\") is missing from the KJT");
    }
    feature_keys.push_back(key);
    keys.push_back(block.key);
    upper += in_offsets[(key + 1) * batch_size] - in_offsets[key * batch_size];
  }
  at::Tensor values = at::empty({upper}, at::kLong);
  at::Tensor offsets = at::empty({static_cast<int64_t>(outputs_.size()) * batch_size + 1}, at::kLong);
  at::Tensor weights = weighted ? at::empty({upper}, at::kFloat) : at::Tensor();
  int64_t* out_ids = values.data_ptr<int64_t>();
  int64_t* out_offsets = offsets.data_ptr<int64_t>();
  float* out_weights = weighted ? weights.data_ptr<float>() : nullptr;
  int64_t n = 0;
  out_offsets[0] = 0;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const int64_t table = outputs_[i].table;
    const VocabMap* vocab = vocabs_[table].get();
    const int64_t oov = oov_rows_[table];
    const int64_t key = feature_keys[i];
    int64_t lookups = 0, missing = 0;
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t begin = in_offsets[key * batch_size + b], end = in_offsets[key * batch_size + b + 1];
      for (int64_t p = begin; p < end; ++p) {
        int64_t id = ids64 ? ids_l[p] : static_cast<int64_t>(ids_i[p]);
        if (vocab != nullptr) {
          ++lookups;
          id = vocab->find(id);
          if (id < 0) {
            ++missing;
            if (oov < 0) continue;  // dropped: the bag shrinks
            id = oov;
          }
        }
        out_ids[n] = id;
        if (out_weights != nullptr) out_weights[n] = in_weights[p];
        ++n;
      }
      out_offsets[i * batch_size + b + 1] = n;
    }
    if (count && vocab != nullptr) {
      vocab_lookups_[table].fetch_add(lookups, std::memory_order_relaxed);
      vocab_missing_[table].fetch_add(missing, std::memory_order_relaxed);
    }
  }
  values = values.narrow(0, 0, n);
  if (weighted) weights = weights.narrow(0, 0, n);
  return KeyedJaggedTensor::from_offsets(std::move(keys), values, offsets, weights, batch_size);
}

void EmbeddingBagCollection::forward(const KeyedJaggedTensor& input, float* out) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const bool by_block = has_vocab_;
  std::optional<KeyedJaggedTensor> remapped;
  if (by_block) remapped.emplace(remap(input, /*count=*/true));
  const KeyedJaggedTensor& kjt = by_block ? *remapped : input;
  check_batch(kjt, "forward", by_block);
  kernels::PooledBatch batch;
  batch.offsets = kjt.offsets().data_ptr<int64_t>();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  // TorchRec ignores KJT weights when the collection is unweighted; so do we.
  batch.per_value_weights = is_weighted_ ? kjt.weights().data_ptr<float>() : nullptr;
  batch.batch = kjt.stride();
  batch.out = out;
  batch.out_width = output_width_;

  std::vector<kernels::PooledFeature> features;
  features.reserve(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const OutputBlock& block = outputs_[i];
    const TableSpec& spec = tables_[block.table];
    kernels::PooledFeature f;
    f.rows = weights_[block.table].data_ptr();
    f.half = spec.dtype == at::kHalf;
    f.num_rows = spec.num_embeddings;
    f.dim = spec.embedding_dim;
    f.key = block_key(kjt, i, by_block);
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

void EmbeddingBagCollection::set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n,
                                       int64_t oov_row) {
  const int64_t t = table_index(table);
  const TableSpec& spec = tables_[t];
  if (oov_row < -1 || oov_row >= spec.num_embeddings) {
    fail(ErrorCode::InvalidConfig, "table \"", table, "\": the OOV row must be -1 (skip) or in [0, ",
         spec.num_embeddings, "), got ", oov_row);
  }
  for (int64_t i = 0; i < n; ++i) {
    if (rows[i] < 0 || rows[i] >= spec.num_embeddings) {
      fail(ErrorCode::Checkpoint, "vocabulary of table \"", table, "\": entry ", i, " (entity id ", ids[i],
           ") maps to row ", rows[i], ", outside [0, ", spec.num_embeddings, ")");
    }
  }
  auto map = std::make_shared<VocabMap>();
  VocabMap::Duplicate dup;
  if (!map->build(ids, rows, n, &dup)) {
    fail(ErrorCode::Checkpoint, "vocabulary of table \"", table, "\": entity id ", dup.id, " appears twice (entries ",
         dup.first, " and ", dup.second, ")");
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  vocabs_[t] = std::move(map);
  oov_rows_[t] = oov_row;
  has_vocab_ = true;
}

std::vector<EmbeddingBagCollection::VocabStats> EmbeddingBagCollection::vocab_stats() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<VocabStats> out;
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!vocabs_[t]) continue;
    out.push_back({tables_[t].name, vocab_lookups_[t].load(), vocab_missing_[t].load()});
  }
  return out;
}

}  // namespace torchrec
