#include "core/managed_id_map.h"

#include "kernels/table_memory.h"

namespace torchrec {

void ManagedIdMap::reset(int64_t expected) {
  size_t capacity = 16;
  while (capacity < static_cast<size_t>(expected < 0 ? 0 : expected) * 2) capacity <<= 1;
  // Lookups land on random slots: on huge pages most of them no longer miss the TLB as well.
  slots_ = std::vector<Slot>();
  slots_.reserve(capacity);
  kernels::advise_huge_pages(slots_.data(), capacity * sizeof(Slot));
  slots_.assign(capacity, Slot{kEmpty, -1});
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
  if (static_cast<size_t>(size_ + 1) * 2 > slots_.size()) grow();
  size_t slot = hash(id) & mask_;
  while (slots_[slot].key != kEmpty && slots_[slot].key != id) slot = (slot + 1) & mask_;
  if (slots_[slot].key == kEmpty) ++size_;
  slots_[slot] = Slot{id, value};
}

void ManagedIdMap::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.size() * 2;
  slots_.assign(capacity, Slot{kEmpty, -1});
  mask_ = capacity - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t slot = hash(s.key) & mask_;
    while (slots_[slot].key != kEmpty) slot = (slot + 1) & mask_;
    slots_[slot] = s;
  }
}

}  // namespace torchrec
