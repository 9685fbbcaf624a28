#include "core/vocab_map.h"

namespace torchrec {

bool VocabMap::build(const int64_t* ids, const int64_t* rows, int64_t n, Duplicate* duplicate) {
  size_t capacity = 2;
  while (capacity < static_cast<size_t>(n) * 2) capacity <<= 1;
  std::vector<int64_t> keys(capacity, kEmpty);
  std::vector<int64_t> values(capacity, -1);
  std::vector<int64_t> positions(capacity, -1);  // only for naming the first occurrence of a duplicate
  const size_t mask = capacity - 1;
  bool has_empty_key = false;
  int64_t empty_key_row = -1, empty_key_position = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    if (id == kEmpty) {
      if (has_empty_key) {
        *duplicate = {id, empty_key_position, i};
        return false;
      }
      has_empty_key = true;
      empty_key_row = rows[i];
      empty_key_position = i;
      continue;
    }
    size_t slot = hash(id) & mask;
    while (keys[slot] != kEmpty && keys[slot] != id) slot = (slot + 1) & mask;
    if (keys[slot] == id) {
      *duplicate = {id, positions[slot], i};
      return false;
    }
    keys[slot] = id;
    values[slot] = rows[i];
    positions[slot] = i;
  }
  keys_ = std::move(keys);
  rows_ = std::move(values);
  mask_ = mask;
  size_ = n;
  has_empty_key_ = has_empty_key;
  empty_key_row_ = empty_key_row;
  return true;
}

}  // namespace torchrec
