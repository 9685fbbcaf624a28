#include "core/managed_ids.h"

#include <random>
#include <unordered_map>

#include "test_util.h"

namespace torchrec::test {
namespace {

TEST(ManagedIdMap, AnyInt64KeyThroughGrowth) {
  ManagedIdMap map(0);  // sized for nothing: every insert past 8 grows it
  std::unordered_map<int64_t, int64_t> want;
  std::mt19937_64 gen(5);
  const std::vector<int64_t> odd = {0, -5, INT64_MIN, INT64_MAX, (int64_t{1} << 62) + 7};
  for (size_t i = 0; i < odd.size(); ++i) {
    map.insert(odd[i], static_cast<int64_t>(i));
    want[odd[i]] = static_cast<int64_t>(i);
  }
  for (int64_t i = 0; i < 20000; ++i) {
    const int64_t id = static_cast<int64_t>(gen());
    map.insert(id, i + 10);
    want[id] = i + 10;
  }
  map.insert(-5, 77);  // replaces
  want[-5] = 77;
  EXPECT_EQ(map.size(), static_cast<int64_t>(want.size()));
  for (const auto& [id, value] : want) {
    EXPECT_EQ(map.find(id), value);
    EXPECT_EQ(map.find_from(id, id == INT64_MIN ? 0 : map.home(id)), value);
  }
  EXPECT_EQ(map.find(123456789), -1);
}

ManagedIdsSpec lfu(int64_t interval) {
  ManagedIdsSpec spec;
  spec.eviction_interval = interval;
  return spec;
}

TEST(ManagedIds, BatchLookupsAgreeWithSingleOnes) {
  ManagedIds ids("t", 6, lfu(1));
  const std::vector<int64_t> in = {9, -1, 9, 4, 8, 3, 2, 77, 9};
  std::vector<int64_t> rows(in.size());
  ids.admit_batch(in.data(), true, static_cast<int64_t>(in.size()), 0, rows.data());
  EXPECT_EQ(rows, (std::vector<int64_t>{0, 1, 0, 2, 3, 4, 5, 5, 0}));  // 2 and 77: table full, default row
  const std::vector<int32_t> in32 = {4, 77, -1};
  std::vector<int64_t> found(3);
  ids.find_batch(in32.data(), false, 3, found.data());
  EXPECT_EQ(found, (std::vector<int64_t>{2, 5, 1}));
  const ManagedIdStats s = ids.stats();
  EXPECT_EQ(s.residents, 5);
  EXPECT_EQ(s.waiting, 2);
  EXPECT_EQ(s.default_row_hits, 2);
}

TEST(ManagedIds, PassRanksByCountThenLowerIdAndReturnsChangedRows) {
  ManagedIds ids("t", 4, lfu(1));  // rows 0..2 for ids, 3 the default
  for (int64_t id : {10, 11, 12}) ids.admit(id, 0);
  for (int k = 0; k < 2; ++k) ids.admit(5, 0);  // waits with count 2
  ids.admit(4, 0);                              // waits with count 1: ties 10, 11, 12 and wins on id
  EXPECT_EQ(ids.evict(1), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ids.find(5), 1);  // the best newcomer takes the lowest freed row
  EXPECT_EQ(ids.find(4), 2);
  EXPECT_EQ(ids.find(10), 0);
  EXPECT_EQ(ids.find(12), 3);
  EXPECT_EQ(ids.stats().evicted, 2);
}

TEST(ManagedIds, ImportRefusesBadMapsAndKeepsTheOldOne) {
  ManagedIds ids("t", 4, lfu(1));
  ids.admit(7, 0);
  ManagedIdsState bad = ids.export_state();
  bad.ids.push_back(7);
  bad.rows.push_back(1);
  bad.counts.push_back(1);
  bad.last_seen.push_back(0);
  expect_error([&] { ids.import_state(bad); }, ErrorCode::Checkpoint, "id 7 appears twice");
  bad = ids.export_state();
  bad.rows[0] = 3;
  expect_error([&] { ids.import_state(bad); }, ErrorCode::Checkpoint, "maps to row 3, outside [0, 3)");
  bad = ids.export_state();
  bad.waiting_ids = {7};
  bad.waiting_counts = {1};
  bad.waiting_last_seen = {0};
  expect_error([&] { ids.import_state(bad); }, ErrorCode::Checkpoint, "also resident");
  EXPECT_EQ(ids.find(7), 0);
  EXPECT_EQ(ids.stats().residents, 1);
}

}  // namespace
}  // namespace torchrec::test
