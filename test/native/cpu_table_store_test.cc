#include "core/cpu_table_store.h"

#include <cmath>

#include "core/embedding_bag_collection.h"
#include "test_util.h"

namespace torchrec::test {
namespace {

OptimizerSpec sgd(double lr) {
  OptimizerSpec spec;
  spec.kind = OptimizerKind::Sgd;
  spec.lr = lr;
  return spec;
}

TEST(CpuTableStore, ForwardPoolsEveryBlockAtItsColumn) {
  LookupPlan plan({table("a", 3, 2, {"x"}), table("b", 2, 1, {"y"}, Pooling::Mean)}, false);
  CpuTableStore store(plan.tables(), {std::nullopt, std::nullopt}, 7);
  store.write_rows(0, 0, at::tensor({1.f, 2.f, 10.f, 20.f, 100.f, 200.f}).reshape({3, 2}));
  store.write_rows(1, 0, at::tensor({3.f, 5.f}).reshape({2, 1}));
  const KeyedJaggedTensor batch = kjt({"x", "y"}, {0, 2, 1, 0, 1, 1}, {2, 1, 2, 1});
  const PlannedBatch planned = plan.plan(batch, "forward", true);
  std::vector<float> out(2 * 3);
  store.forward(plan, planned, out.data());
  // sample 0: x {0, 2} -> (101, 202), y mean {0, 1} -> 4; sample 1: x {1} -> (10, 20), y {1} -> 5
  EXPECT_EQ(out, (std::vector<float>{101, 202, 4, 10, 20, 5}));
}

TEST(CpuTableStore, ForwardChecksDeferredIdsAsItPoolsAndReportsThePlansError) {
  LookupPlan plan({table("a", 3, 2, {"x"}), table("b", 2, 1, {"y"})}, false);
  CpuTableStore store(plan.tables(), {std::nullopt, std::nullopt}, 7);
  ASSERT_TRUE(store.checks_ids_while_pooling());
  const KeyedJaggedTensor good = kjt({"x", "y"}, {0, 2, 1, 0, 1, 1}, {2, 1, 2, 1});
  const PlannedBatch checked = plan.plan(good, "forward", true);
  const PlannedBatch deferred = plan.plan(good, "forward", true, false, /*defer_id_check=*/true);
  EXPECT_TRUE(checked.ids_checked());
  EXPECT_FALSE(deferred.ids_checked());
  std::vector<float> a(2 * 3), b(2 * 3);
  store.forward(plan, checked, a.data());
  store.forward(plan, deferred, b.data());
  EXPECT_EQ(a, b);
  // Bad ids in both features: the error names the first feature's, as planning with the check does.
  const KeyedJaggedTensor bad = kjt({"x", "y"}, {0, 3, 1, 0, 1, -1}, {2, 1, 2, 1});
  expect_error([&] { plan.plan(bad, "forward", true); }, ErrorCode::IndexOutOfRange,
               "feature \"x\": id 3 at values position 1 is out of range for table \"a\"");
  const PlannedBatch unchecked = plan.plan(bad, "forward", true, false, /*defer_id_check=*/true);
  expect_error([&] { store.forward(plan, unchecked, b.data()); }, ErrorCode::IndexOutOfRange,
               "feature \"x\": id 3 at values position 1 is out of range for table \"a\"");
}

TEST(CpuTableStore, RowIoKeepsTheStoredDtype) {
  LookupPlan plan({table("h", 2, 3, {}, Pooling::Sum, at::kHalf)}, false);
  CpuTableStore store(plan.tables(), {std::nullopt}, 1);
  store.write_rows(0, 1, at::tensor({0.1f, 1.f / 3, 65504.f}).reshape({1, 3}));
  const at::Tensor row = store.read_rows(0, 1, 1);
  EXPECT_EQ(row.scalar_type(), at::kHalf);
  EXPECT_EQ(row.sizes(), (at::IntArrayRef{1, 3}));
  EXPECT_EQ(row[0][0].item<float>(), static_cast<float>(c10::Half(0.1f)));
  EXPECT_EQ(row[0][2].item<float>(), 65504.f);
}

TEST(CpuTableStore, SameSeedSameInitialWeightsAndWithinTheInitRange) {
  LookupPlan plan({table("a", 50, 8), table("b", 20, 4)}, false);
  CpuTableStore one(plan.tables(), {}, 42), two(plan.tables(), {}, 42), other(plan.tables(), {}, 43);
  EXPECT_TRUE(one.read_rows(1, 0, 20).equal(two.read_rows(1, 0, 20)));
  EXPECT_FALSE(one.read_rows(1, 0, 20).equal(other.read_rows(1, 0, 20)));
  const at::Tensor w = one.read_rows(0, 0, 50);
  EXPECT_GE(w.min().item<float>(), -0.5f);
  EXPECT_LE(w.max().item<float>(), 0.5f);
}

TEST(EmbeddingBagCollection, BackwardSumsDuplicatesUpdatesOnceAndCountsSteps) {
  EmbeddingBagCollection ebc({table("a", 4, 2, {"x", "y"})}, false, 3, {sgd(0.5)});
  ebc.set_weights("a", at::zeros({4, 2}));
  // Row 1 appears in x (sample 0) and y (sample 1); row 3 once in x (sample 1).
  const KeyedJaggedTensor batch = kjt({"x", "y"}, {1, 3, 1}, {1, 1, 0, 1});
  const std::vector<float> grad{1, 2, 0, 0, 3, 4, 10, 20};  // [B=2][x:2 | y:2]
  EXPECT_EQ(ebc.backward(batch, grad.data(), static_cast<int64_t>(grad.size())), 1);
  const at::Tensor w = ebc.get_weights("a");
  EXPECT_EQ(w[1][0].item<float>(), -0.5f * (1 + 10));
  EXPECT_EQ(w[1][1].item<float>(), -0.5f * (2 + 20));
  EXPECT_EQ(w[3][0].item<float>(), -0.5f * 3);
  EXPECT_EQ(w[0][0].item<float>(), 0.f);
  EXPECT_EQ(ebc.step(), 1);
}

TEST(EmbeddingBagCollection, BackwardFollowsTheScheduleAndIsAllOrNothing) {
  OptimizerSpec spec = sgd(99);
  LearningRateSchedule schedule;
  schedule.kind = LearningRateSchedule::Kind::PiecewiseConstant;
  schedule.boundaries = {1, 1, 2};  // equal boundaries are fine: bisect_right skips the empty interval
  schedule.values = {0.5, 7, 0.25, 0.125};
  spec.schedule = schedule;
  EmbeddingBagCollection ebc({table("a", 2, 1)}, false, 3, {spec});
  ebc.set_weights("a", at::zeros({2, 1}));
  const KeyedJaggedTensor batch = kjt({"a"}, {0}, {1});
  const float one = 1;
  ebc.backward(batch, &one, 1);  // step 0 -> 0.5
  ebc.backward(batch, &one, 1);  // step 1 -> 0.25
  EXPECT_EQ(ebc.get_weights("a")[0][0].item<float>(), -0.75f);
  const float nan = std::nanf("");
  expect_error([&] { ebc.backward(batch, &nan, 1); }, ErrorCode::NonFinite, "gradOutput[0]");
  expect_error([&] { ebc.backward(batch, &one, 2); }, ErrorCode::Shape, "expected [1][1]");
  EXPECT_EQ(ebc.step(), 2);
  EXPECT_EQ(ebc.get_weights("a")[0][0].item<float>(), -0.75f);
}

TEST(EmbeddingBagCollection, OptimizerSpecsAreValidatedForEveryCaller) {
  OptimizerSpec adam;
  adam.kind = OptimizerKind::Adam;
  adam.lr = 0.1;
  adam.beta1 = 1.0;  // 1 - beta1^t = 0: Adam would divide by zero
  expect_error([&] { EmbeddingBagCollection({table("a", 2, 1)}, false, 1, {adam}); }, ErrorCode::InvalidConfig,
               "tables[0].optimizer.beta1");
  expect_error([&] { EmbeddingBagCollection({table("a", 2, 1)}, false, 1, {}, "tpu"); }, ErrorCode::Device,
               "device \"tpu\"");
}

TEST(EmbeddingBagCollection, StateLayoutComesFromTheOptimizerAndStateIsChecked) {
  OptimizerSpec spec;
  spec.kind = OptimizerKind::PartialRowwiseAdam;
  spec.lr = 0.1;
  EmbeddingBagCollection ebc({table("a", 3, 2)}, false, 1, {spec});
  const auto layout = ebc.state_layout("a");
  ASSERT_EQ(layout.size(), 2u);
  EXPECT_EQ(layout[0].name, "momentum1");
  EXPECT_EQ(layout[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(layout[1].name, "momentum2");
  EXPECT_EQ(layout[1].shape, (std::vector<int64_t>{3}));
  const std::vector<float> negative{0, -1, 0};
  expect_error([&] { ebc.set_optimizer_state("a", "momentum2", negative.data(), 3); }, ErrorCode::InvalidArgument,
               "momentum2 of table a: element 1 is -1");
  EXPECT_EQ(ebc.optimizer_state("a", "momentum2").abs().sum().item<float>(), 0.f);
}

}  // namespace
}  // namespace torchrec::test
