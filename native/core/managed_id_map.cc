#include "core/managed_id_map.h"

namespace torchrec {

void ManagedIdMap::reset(int64_t expected) {
  size_t capacity = 16;
  while (capacity < static_cast<size_t>(expected < 0 ? 0 : expected) * 2) capacity <<= 1;
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, -1);
  mask_ = capacity - 1;
  size_ = 0;
  has_min_key_ = false;
  min_key_value_ = -1;
}

void ManagedIdMap::insert(int64_t id, int64_t value) {
  if (id == kEmpty) {
    if (!has_min_key_) ++size_;
    has_min_key_ = true;
    min_key_value_ = value;
    return;
  }
  if (static_cast<size_t>(size_ + 1) * 2 > keys_.size()) grow();
  size_t slot = hash(id) & mask_;
  while (keys_[slot] != kEmpty && keys_[slot] != id) slot = (slot + 1) & mask_;
  if (keys_[slot] == kEmpty) ++size_;
  keys_[slot] = id;
  values_[slot] = value;
}

void ManagedIdMap::grow() {
  std::vector<int64_t> keys = std::move(keys_), values = std::move(values_);
  const size_t capacity = keys.size() * 2;
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, -1);
  mask_ = capacity - 1;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == kEmpty) continue;
    size_t slot = hash(keys[i]) & mask_;
    while (keys_[slot] != kEmpty) slot = (slot + 1) & mask_;
    keys_[slot] = keys[i];
    values_[slot] = values[i];
  }
}

}  // namespace torchrec
