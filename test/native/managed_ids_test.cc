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

// The pipelined batches (lookahead probes, rows prefetched) against one admit()/find() at a time, over
// streams far longer than the lookahead in which new ids repeat within a few positions (an id probed
// absent that an earlier occurrence admits before its turn), tables filling up, waiting ids, the
// bounded waiting set, and int32 input.
TEST(ManagedIds, PipelinedBatchesAgreeWithOneIdAtATime) {
  std::mt19937_64 gen(11);
  for (const int64_t rows : {2, 40, 300}) {
    ManagedIdsSpec spec = lfu(1);
    spec.max_waiting = 25;
    ManagedIds batched("t", rows, spec), single("t", rows, spec);
    std::vector<int64_t> recent;
    for (int64_t step = 0; step < 6; ++step) {
      std::vector<int32_t> in(1000);
      for (auto& id : in) {
        const uint64_t r = gen() % 10;
        if (r < 4 && !recent.empty()) {
          id = static_cast<int32_t>(recent[gen() % recent.size()]);  // a repeat, often a few ids back
        } else {
          id = static_cast<int32_t>(gen() % 1000) - 500;
        }
        recent.push_back(id);
        if (recent.size() > 12) recent.erase(recent.begin());
      }
      std::vector<int64_t> got(in.size());
      batched.admit_batch(in.data(), false, static_cast<int64_t>(in.size()), step, got.data());
      for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(got[i], single.admit(in[i], step)) << "position " << i;
      batched.find_batch(in.data(), false, static_cast<int64_t>(in.size()), got.data());
      for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(got[i], single.find(in[i])) << "position " << i;
      if (step % 2 == 1) {
        ASSERT_EQ(batched.evict(step), single.evict(step));
      }
    }
    const ManagedIdsState a = batched.export_state(), b = single.export_state();
    EXPECT_EQ(a.ids, b.ids);
    EXPECT_EQ(a.rows, b.rows);
    EXPECT_EQ(a.counts, b.counts);
    EXPECT_EQ(a.last_seen, b.last_seen);
    EXPECT_EQ(a.waiting_ids, b.waiting_ids);
    EXPECT_EQ(a.waiting_counts, b.waiting_counts);
    const ManagedIdStats x = batched.stats(), y = single.stats();
    EXPECT_EQ(
        std::vector<int64_t>({x.residents, x.waiting, x.admitted, x.evicted, x.default_row_hits, x.waiting_dropped}),
        std::vector<int64_t>({y.residents, y.waiting, y.admitted, y.evicted, y.default_row_hits, y.waiting_dropped}));
  }
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
