#include "core/mapped_table_store.h"

#include "core/cpu_table_store.h"
#include "core/error.h"
#include "core/table_state_rules.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec {

at::Tensor map_table_rows(const TableSpec& spec, const std::shared_ptr<FileMapping>& file, const MappedSource& source,
                          const std::string& where) {
  if (source.dtype != spec.dtype) {
    fail(ErrorCode::Checkpoint, where, ": stored dtype ", c10::toString(source.dtype), " differs from table \"",
         spec.name, "\"'s ", c10::toString(spec.dtype), "; only a table's own dtype can be mapped");
  }
  const int64_t elem = static_cast<int64_t>(c10::elementSize(spec.dtype));
  const int64_t bytes = spec.num_embeddings * spec.embedding_dim * elem;
  const int64_t size = static_cast<int64_t>(file->size());
  if (source.offset < 0 || source.offset % elem != 0) {
    fail(ErrorCode::Checkpoint, where, ": byte offset ", source.offset, " in ", file->path(), " is not a multiple of ",
         elem, " (the element size), so the rows cannot be read in place");
  }
  if (source.offset > size || bytes > size - source.offset) {
    fail(ErrorCode::Checkpoint, where, ": bytes [", source.offset, ", ", source.offset + bytes, ") of table \"",
         spec.name, "\" (", spec.num_embeddings, " x ", spec.embedding_dim, " ", c10::toString(spec.dtype),
         ") lie past the end of ", file->path(), " (", size, " bytes)");
  }
  void* rows = const_cast<uint8_t*>(file->data() + source.offset);  // read-only pages: never written
  std::shared_ptr<FileMapping> keep = file;
  return at::from_blob(
      rows, {spec.num_embeddings, spec.embedding_dim}, [keep](void*) mutable { keep.reset(); },
      at::TensorOptions().dtype(spec.dtype));
}

MappedTableStore::MappedTableStore(std::vector<TableSpec> tables, std::vector<at::Tensor> weights,
                                   std::vector<std::shared_ptr<FileMapping>> mappings,
                                   std::vector<std::optional<OptimizerSpec>> optimizers)
    : tables_(std::move(tables)),
      weights_(std::move(weights)),
      mappings_(std::move(mappings)),
      optimizers_(std::move(optimizers)) {
  table_features_ = dense_table_features(tables_, weights_);
  mappings_.resize(tables_.size());
  optimizers_.resize(tables_.size());
}

void MappedTableStore::check_intact(int64_t table, const char* what) const {
  for (size_t t = 0; t < mappings_.size(); ++t) {
    if (mappings_[t] && (table < 0 || table == static_cast<int64_t>(t))) mappings_[t]->check_intact(what);
  }
}

void MappedTableStore::forward(const LookupPlan& plan, const PlannedBatch& batch, float* out) const {
  check_intact(-1, "forward");
  dense_pooled_forward(table_features_, plan, batch, out);
  // A file truncated during the lookup read zeros (file_mapping.h): the result is refused.
  check_intact(-1, "forward");
}

void MappedTableStore::backward(const LookupPlan&, const PlannedBatch&, const float*,
                                const std::vector<OptimizerStep>&) {
  fail(ErrorCode::InvalidMode, "backward(): this collection serves memory-mapped tables and is read-only ",
       "(restored with mmap: true); restore without mmap into a new collection to train");
}

at::Tensor MappedTableStore::read_rows(int64_t table, int64_t begin, int64_t count) const {
  check_intact(table, "read weights");
  at::Tensor rows = weights_.at(table).narrow(0, begin, count).clone();
  check_intact(table, "read weights");
  return rows;
}

void MappedTableStore::write_rows(int64_t table, int64_t, const at::Tensor&) {
  fail(ErrorCode::InvalidMode, "table \"", tables_.at(table).name, "\" is read-only: the collection serves ",
       "memory-mapped tables (restored with mmap: true); restore without mmap into a new collection to write it");
}

at::Tensor MappedTableStore::read_state(int64_t table, size_t index) const {
  const auto layout = table_state_layout(tables_.at(table), optimizers_.at(table));
  int64_t numel = 1;
  for (int64_t d : layout.at(index).shape) numel *= d;
  return at::zeros({numel}, at::kFloat);
}

void MappedTableStore::write_state(int64_t table, size_t, const float*, int64_t) {
  fail(ErrorCode::InvalidMode, "table \"", tables_.at(table).name, "\": optimizer state cannot be written on a ",
       "collection that serves memory-mapped tables (restored with mmap: true)");
}

double MappedTableStore::mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const {
  const TableSpec& spec = tables_.at(table);
  check_intact(table, "tableNorms");
  const double norm = kernels::mean_row_norm(weights_[table].data_ptr(), spec.dtype == at::kHalf, spec.num_embeddings,
                                             spec.embedding_dim, max_rows, seed);
  check_intact(table, "tableNorms");
  return norm;
}

}  // namespace torchrec
