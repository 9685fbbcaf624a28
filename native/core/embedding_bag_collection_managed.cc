// The managed-id half of EmbeddingBagCollection: TRAIN forwards that admit and count ids, the
// eviction passes after a backward, and the map's stats and state (core/managed_ids.h).
#include <mutex>

#include "core/embedding_bag_collection.h"
#include "core/managed_ids.h"
#include "core/managed_rows.h"

namespace torchrec {

// A writer, unlike forward(): admission changes the map, and two forwards admitting at once would
// hand out rows in whatever order their threads ran.
void EmbeddingBagCollection::forward_train(const KeyedJaggedTensor& input, float* out) {
  if (!plan_.has_managed()) return forward(input, out);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const PlannedBatch batch = plan_.plan_train(input, "forward", step_.load());
  store_->forward(plan_, batch, out);
}

// Called by backward() with the write lock held.
void EmbeddingBagCollection::run_eviction_passes(int64_t step) {
  for (size_t t = 0; t < plan_.tables().size(); ++t) {
    ManagedIds* managed = plan_.managed(static_cast<int64_t>(t));
    if (managed == nullptr || !managed->pass_due(step)) continue;
    const std::vector<int64_t> rows = managed->evict(step);
    const TableOrigin origin{static_cast<int64_t>(t)};
    reset_managed_rows(*store_, plan_.tables()[t], optimizers_[t], origin.table, origin, seed_, rows);
  }
}

std::vector<std::pair<std::string, ManagedIdStats>> EmbeddingBagCollection::managed_id_stats() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<std::pair<std::string, ManagedIdStats>> out;
  for (size_t t = 0; t < plan_.tables().size(); ++t) {
    if (const ManagedIds* managed = plan_.managed(static_cast<int64_t>(t))) {
      out.emplace_back(plan_.tables()[t].name, managed->stats());
    }
  }
  return out;
}

std::optional<ManagedIdsState> EmbeddingBagCollection::managed_state(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const ManagedIds* managed = plan_.managed(t);
  if (managed == nullptr) return std::nullopt;
  return managed->export_state();
}

}  // namespace torchrec
