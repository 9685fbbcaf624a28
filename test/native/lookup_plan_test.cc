#include "core/lookup_plan.h"

#include "test_util.h"

namespace torchrec::test {
namespace {

TEST(LookupPlan, OutputBlocksFollowTablesThenFeaturesAndNameSharedFeaturesByTable) {
  LookupPlan plan({table("a", 10, 4, {"x", "y"}), table("b", 5, 2, {"y"}, Pooling::Mean)}, false);
  ASSERT_EQ(plan.outputs().size(), 3u);
  EXPECT_EQ(plan.outputs()[0].key, "x");
  EXPECT_EQ(plan.outputs()[1].key, "y@a");
  EXPECT_EQ(plan.outputs()[2].key, "y@b");
  EXPECT_EQ(plan.outputs()[2].column, 8);
  EXPECT_TRUE(plan.outputs()[2].mean);
  EXPECT_EQ(plan.output_width(), 10);
  EXPECT_EQ(plan.table_index("b"), 1);
  expect_error([&] { plan.table_index("c"); }, ErrorCode::InvalidArgument, "tables: a, b");
}

TEST(LookupPlan, PlanFindsEachBlocksKeyWhateverTheKjtKeyOrder) {
  LookupPlan plan({table("a", 10, 4, {"x", "y"})}, false);
  const KeyedJaggedTensor batch = kjt({"y", "unused", "x"}, {1, 2, 3}, {1, 0, 1, 0, 1, 0});
  const PlannedBatch planned = plan.plan(batch, "forward", true);
  EXPECT_EQ(planned.block_key(0), 2);
  EXPECT_EQ(planned.block_key(1), 0);
  EXPECT_EQ(planned.batch_size(), 2);
  EXPECT_EQ(&planned.kjt(), &batch);  // no input stage: the caller's batch, not a copy
}

TEST(LookupPlan, BatchValidationNamesTheFeatureTableAndPosition) {
  LookupPlan plan({table("a", 10, 4, {"x"}), table("b", 3, 4, {"z"})}, false);
  expect_error([&] { plan.plan(kjt({"x"}, {1}, {1}), "forward", true); }, ErrorCode::MissingFeature,
               "feature \"z\" (read by table \"b\")");
  expect_error(
      [&] {
        plan.plan(kjt({"x", "z"}, {1, 0, 3}, {1, 2}), "forward", true);
      },
      ErrorCode::IndexOutOfRange, "feature \"z\": id 3 at values position 2 is out of range for table \"b\"");
  LookupPlan weighted({table("a", 10, 4, {"x"})}, true);
  expect_error([&] { weighted.plan(kjt({"x"}, {1}, {1}), "backward", false); }, ErrorCode::InvalidKjt,
               "KJT given to backward has no weights");
}

TEST(LookupPlan, VocabularyStageMapsDropsAndCountsOnlyWhenAsked) {
  LookupPlan plan({table("a", 4, 2, {"x"}), table("b", 4, 2, {"x"})}, true);
  const std::vector<int64_t> ids{2, 3}, rows{1, 0};
  plan.set_vocab(0, ids.data(), rows.data(), 2, -1);
  // Table a maps 2 -> 1 and 3 -> 0 and drops 1; table b reads the raw ids of the same feature.
  const KeyedJaggedTensor batch = kjt({"x"}, {2, 1, 3}, {2, 1}, {0.5f, 2.0f, 4.0f});
  const PlannedBatch planned = plan.plan(batch, "forward", true);
  const KeyedJaggedTensor& out = planned.kjt();
  EXPECT_NE(&out, &batch);
  EXPECT_EQ(out.keys(), (std::vector<std::string>{"x@a", "x@b"}));
  const at::Tensor values = out.values();
  EXPECT_EQ(std::vector<int64_t>(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel()),
            (std::vector<int64_t>{1, 0, 2, 1, 3}));
  const at::Tensor weights = out.weights();
  EXPECT_EQ(std::vector<float>(weights.data_ptr<float>(), weights.data_ptr<float>() + weights.numel()),
            (std::vector<float>{0.5f, 4.0f, 0.5f, 2.0f, 4.0f}));  // weights follow their ids
  auto stats = plan.vocab_stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].lookups, 3);
  EXPECT_EQ(stats[0].missing, 1);
  plan.plan(batch, "backward", false);  // the same mapping, not counted again
  EXPECT_EQ(plan.vocab_stats()[0].lookups, 3);
  // Ids are checked after the stage, against the table that reads them.
  expect_error(
      [&] {
        plan.plan(kjt({"x"}, {2, 9}, {1, 1}, {1.0f, 1.0f}), "forward", false);
      },
      ErrorCode::IndexOutOfRange, "id 9 at values position 2 (of this table's ids)");
}

TEST(LookupPlan, RepeatedVocabularyIdsCarryTheirPositionsAsDetails) {
  LookupPlan plan({table("a", 4, 2)}, false);
  const std::vector<int64_t> ids{5, 6, 5}, rows{0, 1, 2};
  try {
    plan.set_vocab(0, ids.data(), rows.data(), 3, -1);
    ADD_FAILURE() << "expected a duplicate";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Checkpoint);
    EXPECT_EQ(e.details(), (Error::Details{{"id", 5}, {"first", 0}, {"second", 2}}));
  }
  EXPECT_TRUE(plan.vocab_stats().empty());  // nothing was installed
}

}  // namespace
}  // namespace torchrec::test
