#include "core/keyed_jagged_tensor.h"

#include <numeric>
#include <thread>

#include "core/lookup_plan.h"
#include "test_util.h"

namespace torchrec::test {
namespace {

using KeyList = KeyedJaggedTensor::KeyList;

KeyList keys_of(std::vector<std::string> keys) {
  return std::make_shared<const std::vector<std::string>>(std::move(keys));
}

// The offsets a plain running sum gives.
std::vector<int64_t> running_sum(const std::vector<int64_t>& lengths) {
  std::vector<int64_t> off(lengths.size() + 1, 0);
  std::partial_sum(lengths.begin(), lengths.end(), off.begin() + 1);
  return off;
}

TEST(KeyedJaggedTensor, OffsetsFromLengthsInlineAndOnTheHeapForEveryRemainderOfFour) {
  // 1-4 keys x batches around the inline capacity (255 bags): every length count mod 4, both sides.
  for (int64_t keys = 1; keys <= 4; ++keys) {
    for (int64_t batch : {1, 2, 3, 5, 63, 64, 65, 127, 128, 129, 300}) {
      std::vector<int64_t> lengths(static_cast<size_t>(keys * batch));
      for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<int64_t>((i * 7 + 3) % 5);
      const std::vector<int64_t> want = running_sum(lengths);
      std::vector<std::string> names;
      for (int64_t k = 0; k < keys; ++k) names.push_back("k" + std::to_string(k));
      for (const auto dtype : {at::kInt, at::kLong}) {
        const at::Tensor len = at::tensor(lengths, at::kLong).to(dtype);
        const auto kjt = KeyedJaggedTensor::from_lengths(names, at::zeros({want.back()}, at::kLong), len, at::Tensor());
        EXPECT_EQ(kjt.offsets().vec(), want) << keys << " keys, batch " << batch;
        EXPECT_EQ(kjt.stride(), batch);
        // The same batch given as offsets.
        const auto again = KeyedJaggedTensor::from_offsets(names, at::zeros({want.back()}, at::kLong),
                                                           at::tensor(want, at::kLong).to(dtype), at::Tensor());
        EXPECT_EQ(again.offsets().vec(), want);
      }
    }
  }
}

TEST(KeyedJaggedTensor, OffsetsSurviveMovesAndCopies) {
  auto make = [](int64_t batch) {
    std::vector<int64_t> lengths(static_cast<size_t>(batch), 2);
    return KeyedJaggedTensor::from_lengths({"x"}, at::zeros({2 * batch}, at::kLong), at::tensor(lengths, at::kLong),
                                           at::Tensor());
  };
  for (int64_t batch : {3, 1000}) {  // inline, heap
    KeyedJaggedTensor a = make(batch);
    const std::vector<int64_t> want = a.offsets().vec();
    KeyedJaggedTensor b = std::move(a);
    EXPECT_EQ(b.offsets().vec(), want);
    std::optional<KeyedJaggedTensor> c;
    c.emplace(b);
    EXPECT_EQ(c->offsets().vec(), want);
    EXPECT_EQ(b.offsets().vec(), want);
  }
}

TEST(KeyedJaggedTensor, LengthChecksStillHoldOutsideTheFastPath) {
  expect_error(
      [] {
        KeyedJaggedTensor::from_lengths({"x"}, at::zeros({1}, at::kLong), at::tensor({int64_t{2}, int64_t{-1}}),
                                        at::Tensor());
      },
      ErrorCode::InvalidKjt, "lengths[1] is negative (-1)");
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2 + 1;
  expect_error(
      [&] {
        KeyedJaggedTensor::from_lengths({"x"}, at::zeros({1}, at::kLong), at::tensor({huge, huge}), at::Tensor());
      },
      ErrorCode::InvalidKjt, "lengths overflow int64 when summed (at lengths[1]");
  expect_error(
      [] {
        KeyedJaggedTensor::from_lengths({"x"}, at::zeros({4}, at::kLong), at::tensor({int64_t{1}, int64_t{2}}),
                                        at::Tensor());
      },
      ErrorCode::InvalidKjt, "lengths sum to 3 but values has 4 entries");
  expect_error(
      [] {
        KeyedJaggedTensor::from_offsets({"x"}, at::zeros({4}, at::kLong),
                                        at::tensor({int64_t{0}, int64_t{3}, int64_t{2}}), at::Tensor());
      },
      ErrorCode::InvalidKjt, "offsets[2] = 2 < offsets[1] = 3");
}

TEST(KeyedJaggedTensor, ASharedKeyListWithARepeatedKeyIsRejectedEveryTime) {
  const KeyList good = keys_of({"a", "b"});
  const KeyList bad = keys_of({"a", "a"});
  for (int round = 0; round < 3; ++round) {
    // A good list checked (and remembered) in between must not let the bad one through.
    KeyedJaggedTensor::from_lengths(good, at::zeros({0}, at::kLong), at::zeros({2}, at::kLong), at::Tensor());
    expect_error(
        [&] {
          KeyedJaggedTensor::from_lengths(bad, at::zeros({0}, at::kLong), at::zeros({2}, at::kLong), at::Tensor());
        },
        ErrorCode::InvalidKjt, "KJT key \"a\" appears twice");
  }
  // On another thread too (the remembered list is per thread).
  std::thread other([&] {
    expect_error(
        [&] {
          KeyedJaggedTensor::from_lengths(bad, at::zeros({0}, at::kLong), at::zeros({2}, at::kLong), at::Tensor());
        },
        ErrorCode::InvalidKjt, "appears twice");
  });
  other.join();
}

TEST(LookupPlan, BlockKeysOfASharedKeyListAreEachPlansOwn) {
  // Two plans, one key list: each must map it through its own features, whichever planned it last.
  LookupPlan first({table("a", 10, 2, {"x", "y"})}, false);
  LookupPlan second({table("b", 10, 2, {"y"})}, false);
  LookupPlan needs_z({table("c", 10, 2, {"z"})}, false);
  const KeyList keys = keys_of({"y", "x"});
  const KeyedJaggedTensor batch = KeyedJaggedTensor::from_lengths(keys, at::tensor({int64_t{1}, int64_t{2}}),
                                                                  at::ones({2}, at::kLong), at::Tensor());
  for (int round = 0; round < 2; ++round) {
    const PlannedBatch a = first.plan(batch, "forward", true);
    EXPECT_EQ(a.block_keys().vec(), (std::vector<int64_t>{1, 0}));
    const PlannedBatch b = second.plan(batch, "forward", true);
    EXPECT_EQ(b.block_keys().vec(), (std::vector<int64_t>{0}));
    expect_error([&] { needs_z.plan(batch, "forward", true); }, ErrorCode::MissingFeature, "feature \"z\"");
  }
  // Another list for the same plan, with the keys the other way round.
  const KeyedJaggedTensor swapped = KeyedJaggedTensor::from_lengths(
      keys_of({"x", "y"}), at::tensor({int64_t{1}, int64_t{2}}), at::ones({2}, at::kLong), at::Tensor());
  EXPECT_EQ(first.plan(swapped, "forward", true).block_keys().vec(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(first.plan(batch, "forward", true).block_keys().vec(), (std::vector<int64_t>{1, 0}));
}

}  // namespace
}  // namespace torchrec::test
