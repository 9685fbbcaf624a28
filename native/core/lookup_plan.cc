#include "core/lookup_plan.h"

#include <map>

#include "core/error.h"
#include "core/managed_ids.h"
#include "kernels/pooled_lookup_cpu.h"

namespace torchrec {
namespace {

uint64_t next_cache_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

PlannedBatch::PlannedBatch(const KeyedJaggedTensor& input, std::optional<KeyedJaggedTensor> rewritten,
                           c10::ArrayRef<int64_t> block_keys, bool weighted, std::vector<const ManagedIds*> remapped,
                           bool ids_checked)
    : input_(input),
      rewritten_(std::move(rewritten)),
      block_keys_(block_keys.begin(), block_keys.end()),
      weighted_(weighted),
      remapped_(std::move(remapped)),
      ids_checked_(ids_checked) {}

LookupPlan::LookupPlan(std::vector<TableSpec> tables, bool is_weighted)
    : tables_(std::move(tables)), is_weighted_(is_weighted), cache_id_(next_cache_id()) {
  validate_table_specs(tables_, is_weighted_);
  std::map<std::string, int> readers;
  for (const auto& table : tables_) {
    for (const auto& feature : table.feature_names) readers[feature]++;
  }
  for (size_t t = 0; t < tables_.size(); ++t) {
    for (const auto& feature : tables_[t].feature_names) {
      OutputBlock block;
      block.feature = feature;
      block.key = readers[feature] > 1 ? feature + "@" + tables_[t].name : feature;
      block.table = static_cast<int64_t>(t);
      block.dim = tables_[t].embedding_dim;
      block.column = output_width_;
      block.mean = tables_[t].pooling == Pooling::Mean;
      output_width_ += block.dim;
      outputs_.push_back(std::move(block));
    }
  }
  vocabs_.resize(tables_.size());
  oov_rows_.assign(tables_.size(), -1);
  vocab_lookups_.reset(new std::atomic<int64_t>[tables_.size()]);
  vocab_missing_.reset(new std::atomic<int64_t>[tables_.size()]);
  for (size_t t = 0; t < tables_.size(); ++t) {
    vocab_lookups_[t].store(0);
    vocab_missing_[t].store(0);
  }
  managed_.resize(tables_.size());
  for (size_t t = 0; t < tables_.size(); ++t) {
    const TableSpec& spec = tables_[t];
    if (!spec.managed || spec.raw_ids) continue;  // raw_ids: the map is elsewhere (a shard's owner)
    managed_[t] = std::make_shared<ManagedIds>(spec.name, spec.num_embeddings, *spec.managed);
    has_managed_ = true;
  }
}

int64_t LookupPlan::table_index(const std::string& name) const {
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (tables_[t].name == name) return static_cast<int64_t>(t);
  }
  std::string known;
  for (const auto& spec : tables_) known += (known.empty() ? "" : ", ") + spec.name;
  fail(ErrorCode::InvalidArgument, "no table named \"", name, "\" (tables: ", known, ")");
}

PlannedBatch LookupPlan::plan(const KeyedJaggedTensor& input, const char* method, bool count, bool fuse_managed,
                              bool defer_id_check) const {
  return plan_staged(input, method, count, -1, fuse_managed, defer_id_check);
}

void LookupPlan::report_bad_ids(const PlannedBatch& batch) const {
  check_ids(batch.kjt(), batch.block_keys(), /*rewritten=*/false);  // only batches without stages defer
  fail(ErrorCode::Internal, "the pooling reported an id out of range, but the range check finds none");
}

PlannedBatch LookupPlan::plan_train(const KeyedJaggedTensor& input, const char* method, int64_t step) const {
  return plan_staged(input, method, true, step);
}

c10::SmallVector<int64_t, 16> LookupPlan::block_keys(const KeyedJaggedTensor& input) const {
  struct Cached {
    uint64_t plan = 0;
    KeyedJaggedTensor::KeyList keys;  // held, so its address stays this list's
    c10::SmallVector<int64_t, 16> block_keys;
  };
  thread_local Cached cached;
  if (cached.plan == cache_id_ && cached.keys == input.key_list()) return cached.block_keys;
  c10::SmallVector<int64_t, 16> keys;
  for (const auto& block : outputs_) {
    const int64_t key = input.key_index(block.feature);
    if (key < 0) {
      fail(ErrorCode::MissingFeature, "feature \"", block.feature, "\" (read by table \"", tables_[block.table].name,
           "\") is missing from the KJT");
    }
    keys.push_back(key);
  }
  cached.plan = cache_id_;
  cached.keys = input.key_list();
  cached.block_keys = keys;
  return keys;
}

PlannedBatch LookupPlan::plan_staged(const KeyedJaggedTensor& input, const char* method, bool count, int64_t admit_step,
                                     bool fuse_managed, bool defer_id_check) const {
  if (is_weighted_ && !input.has_weights()) {
    fail(ErrorCode::InvalidKjt, "this collection is weighted (isWeighted: true) but the KJT given to ", method,
         " has no weights");
  }
  const c10::SmallVector<int64_t, 16> keys = block_keys(input);
  if (fuse_managed && has_managed_ && !has_vocab_) return plan_fused_managed(input, keys);
  if (!has_vocab_ && !has_managed_) {
    if (defer_id_check) return PlannedBatch(input, std::nullopt, keys, is_weighted_, {}, /*ids_checked=*/false);
    check_ids(input, keys, false);
    return PlannedBatch(input, std::nullopt, keys, is_weighted_);
  }
  const std::vector<int64_t> feature_keys(keys.begin(), keys.end());
  KeyedJaggedTensor rewritten = has_vocab_ ? apply_vocabs(input, feature_keys, count, admit_step)
                                           : apply_managed(input, feature_keys, admit_step);
  c10::SmallVector<int64_t, 16> block_keys(outputs_.size());
  for (size_t i = 0; i < block_keys.size(); ++i) block_keys[i] = static_cast<int64_t>(i);
  check_ids(rewritten, block_keys, true);
  return PlannedBatch(input, std::move(rewritten), block_keys, is_weighted_);
}

void LookupPlan::check_ids(const KeyedJaggedTensor& kjt, c10::ArrayRef<int64_t> keys, bool rewritten,
                           const std::vector<const ManagedIds*>* skip) const {
  kernels::PooledBatch batch;
  batch.offsets = kjt.offsets().data();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.batch = kjt.stride();
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (skip != nullptr && (*skip)[i] != nullptr) continue;
    const TableSpec& spec = tables_[outputs_[i].table];
    if (spec.raw_ids) continue;
    if (auto bad = kernels::find_out_of_range(batch, keys[i], spec.num_embeddings)) {
      fail(ErrorCode::IndexOutOfRange, "feature \"", outputs_[i].feature, "\": id ", bad->value, " at values position ",
           bad->position, rewritten ? " (of this table's ids)" : "", " is out of range for table \"", spec.name,
           "\" (num_embeddings ", spec.num_embeddings, ")");
    }
  }
}

KeyedJaggedTensor LookupPlan::apply_vocabs(const KeyedJaggedTensor& kjt, const std::vector<int64_t>& feature_keys,
                                           bool count, int64_t admit_step) const {
  const int64_t batch_size = kjt.stride();
  const int64_t* in_offsets = kjt.offsets().data();
  const bool ids64 = kjt.values().scalar_type() == at::kLong;
  const int64_t* ids_l = ids64 ? kjt.values().data_ptr<int64_t>() : nullptr;
  const int32_t* ids_i = ids64 ? nullptr : kjt.values().data_ptr<int32_t>();
  const bool weighted = is_weighted_ && kjt.has_weights();
  const float* in_weights = weighted ? kjt.weights().data_ptr<float>() : nullptr;

  std::vector<std::string> keys;
  int64_t upper = 0;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    keys.push_back(outputs_[i].key);
    const int64_t key = feature_keys[i];
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
    ManagedIds* managed = managed_[table].get();
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
        } else if (managed != nullptr) {
          id = admit_step >= 0 ? managed->admit(id, admit_step) : managed->find(id);
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

void LookupPlan::set_vocab(int64_t t, const int64_t* ids, const int64_t* rows, int64_t n, int64_t oov_row) {
  const TableSpec& spec = tables_.at(t);
  if (managed_[t] || spec.raw_ids) {
    fail(ErrorCode::InvalidConfig, "table \"", spec.name, "\" has managed ids (managed_collision); it cannot also ",
         "take a vocabulary");
  }
  if (oov_row < -1 || oov_row >= spec.num_embeddings) {
    fail(ErrorCode::InvalidConfig, "table \"", spec.name, "\": the OOV row must be -1 (skip) or in [0, ",
         spec.num_embeddings, "), got ", oov_row);
  }
  for (int64_t i = 0; i < n; ++i) {
    if (rows[i] < 0 || rows[i] >= spec.num_embeddings) {
      throw Error(ErrorCode::Checkpoint,
                  message_of("vocabulary of table \"", spec.name, "\": entry ", i, " (entity id ", ids[i],
                             ") maps to row ", rows[i], ", outside [0, ", spec.num_embeddings, ")"))
          .with("entry", i)
          .with("id", ids[i])
          .with("row", rows[i]);
    }
  }
  auto map = std::make_shared<VocabMap>();
  VocabMap::Duplicate dup;
  if (!map->build(ids, rows, n, &dup)) {
    throw Error(ErrorCode::Checkpoint, message_of("vocabulary of table \"", spec.name, "\": entity id ", dup.id,
                                                  " appears twice (entries ", dup.first, " and ", dup.second, ")"))
        .with("id", dup.id)
        .with("first", dup.first)
        .with("second", dup.second);
  }
  vocabs_[t] = std::move(map);
  oov_rows_[t] = oov_row;
  has_vocab_ = true;
}

std::vector<LookupPlan::VocabStats> LookupPlan::vocab_stats() const {
  std::vector<VocabStats> out;
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!vocabs_[t]) continue;
    out.push_back({tables_[t].name, vocab_lookups_[t].load(), vocab_missing_[t].load()});
  }
  return out;
}

}  // namespace torchrec
