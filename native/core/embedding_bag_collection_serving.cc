// The serving half of EmbeddingBagCollection: restores that map tables read-only from their files
// (MappedTableStore) and swap the whole store in their place in call order.
//
// Ordering: the binding runs import_state under a writer ticket (call_sequencer.h), so every
// forward issued before the restore has finished and every forward issued after it waits; the swap
// itself is a pointer exchange under the write lock. The new store is built (files mapped, bounds
// checked, unmappable tables copied) before that lock is taken, so a failure leaves the module as it
// was, and the old store — with any mapping only it used — is released as the swap returns.
#include <mutex>

#include "core/embedding_bag_collection.h"
#include "core/error.h"
#include "core/mapped_table_store.h"
#include "kernels/table_memory.h"

namespace torchrec {

void EmbeddingBagCollection::import_serving(const std::vector<TableImport>& tables, std::optional<int64_t> step) {
  if (step && *step < 0) fail(ErrorCode::InvalidArgument, "step must be a non-negative integer, got ", *step);
  if (device() != "cpu") {
    fail(ErrorCode::Device, "a memory-mapped restore needs a CPU collection; this one lives on ", device());
  }
  const std::vector<TableSpec>& specs = plan_.tables();
  std::vector<const TableImport*> by_table(specs.size(), nullptr);
  for (const TableImport& in : tables) {
    const int64_t t = plan_.table_index(in.table);
    by_table[t] = &in;
    if (in.weight.defined()) check_weights(t, in.weight, "importState");
  }
  std::vector<at::Tensor> weights(specs.size());
  std::vector<std::shared_ptr<FileMapping>> mappings(specs.size());
  for (size_t t = 0; t < specs.size(); ++t) {
    const TableSpec& spec = specs[t];
    const TableImport* in = by_table[t];
    if (in && in->mapped) {
      mappings[t] = FileMapping::open(in->mapped->file);
      weights[t] = map_table_rows(spec, mappings[t], *in->mapped, "table \"" + spec.name + "\"");
    } else if (in && in->weight.defined()) {
      // A copy: the caller's buffer is only lent for the call.
      weights[t] = kernels::allocate_table(spec.num_embeddings, spec.embedding_dim, spec.dtype);
      weights[t].copy_(in->weight.reshape({spec.num_embeddings, spec.embedding_dim}));
    } else {
      std::shared_lock<std::shared_mutex> lock(mutex_);
      weights[t] = store_->read_rows(static_cast<int64_t>(t), 0, spec.num_embeddings);
    }
  }
  std::shared_ptr<TableStore> next =
      std::make_shared<MappedTableStore>(specs, std::move(weights), std::move(mappings), optimizers_);
  std::shared_ptr<TableStore> old;
  {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    old = std::exchange(store_, std::move(next));
    if (step) step_.store(*step);
  }
}

std::vector<std::string> EmbeddingBagCollection::table_storage() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto* mapped = dynamic_cast<const MappedTableStore*>(store_.get());
  std::vector<std::string> out;
  for (size_t t = 0; t < plan_.tables().size(); ++t) {
    out.push_back(mapped && mapped->mapped(static_cast<int64_t>(t)) ? "mmap" : "memory");
  }
  return out;
}

bool EmbeddingBagCollection::read_only() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return dynamic_cast<const MappedTableStore*>(store_.get()) != nullptr;
}

}  // namespace torchrec
