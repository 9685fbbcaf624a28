#include "core/keyed_jagged_tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "core/error.h"

namespace torchrec {
namespace {

void check_index_tensor(const at::Tensor& t, const char* name) {
  if (!t.defined()) fail(ErrorCode::InvalidKjt, name, " is missing");
  if (t.scalar_type() != at::kInt && t.scalar_type() != at::kLong) {
    fail(ErrorCode::Dtype, name, " must be int32 or int64 (Int32Array or BigInt64Array), got ", t.scalar_type());
  }
  if (t.dim() != 1) fail(ErrorCode::Shape, name, " must be 1-D, got ", t.dim(), " dimensions");
  if (!t.device().is_cpu()) fail(ErrorCode::Device, name, " must be on the CPU");
}

void check_keys(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    if (key.empty()) fail(ErrorCode::InvalidKjt, "KJT keys must be non-empty strings");
  }
  // A few keys are compared pairwise: no hash set to allocate on every call.
  constexpr size_t kPairwise = 16;
  if (keys.size() <= kPairwise) {
    for (size_t i = 1; i < keys.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (keys[i] == keys[j]) fail(ErrorCode::InvalidKjt, "KJT key \"", keys[i], "\" appears twice");
      }
    }
    return;
  }
  std::unordered_set<std::string> seen;
  for (const auto& key : keys) {
    if (!seen.insert(key).second) fail(ErrorCode::InvalidKjt, "KJT key \"", key, "\" appears twice");
  }
}

// A shared key list is checked once per thread, not per batch: the list is immutable, and holding it
// keeps its address from being reused by another list.
void check_key_list(const KeyedJaggedTensor::KeyList& keys) {
  thread_local KeyedJaggedTensor::KeyList last_checked;
  if (keys == last_checked) return;
  check_keys(*keys);
  last_checked = keys;
}

void check_weights(const at::Tensor& weights, int64_t num_values) {
  if (!weights.defined()) return;
  if (weights.scalar_type() != at::kFloat) {
    fail(ErrorCode::Dtype, "weights must be float32 (Float32Array), got ", weights.scalar_type());
  }
  if (weights.dim() != 1 || weights.numel() != num_values) {
    fail(ErrorCode::Shape, "weights has ", weights.numel(), " entries but values has ", num_values,
         "; a KJT needs one weight per value");
  }
  const float* w = weights.data_ptr<float>();
  for (int64_t i = 0; i < num_values; ++i) {
    if (!std::isfinite(w[i])) fail(ErrorCode::NonFinite, "weights[", i, "] is not finite (", w[i], ")");
  }
}

int64_t derive_stride(size_t num_keys, int64_t num_bags, int64_t stride_hint, const char* what) {
  if (num_keys == 0) {
    if (num_bags != 0) fail(ErrorCode::InvalidKjt, "a KJT without keys must have no ", what);
    if (stride_hint < 0) fail(ErrorCode::InvalidKjt, "stride must be non-negative, got ", stride_hint);
    return stride_hint;
  }
  const int64_t k = static_cast<int64_t>(num_keys);
  if (num_bags % k != 0) {
    fail(ErrorCode::InvalidKjt, what, " has ", num_bags, " entries, not a multiple of the ", k,
         " keys (key-major layout needs keys.length * batchSize entries)");
  }
  const int64_t stride = num_bags / k;
  if (stride_hint > 0 && stride_hint != stride) {
    fail(ErrorCode::InvalidKjt, "stride ", stride_hint, " does not match ", what, " (", num_bags, " entries for ", k,
         " keys means a batch of ", stride, ")");
  }
  return stride;
}

}  // namespace

KeyedJaggedTensor::KeyedJaggedTensor(KeyList keys, at::Tensor values, at::Tensor weights, int64_t stride)
    : keys_(std::move(keys)), values_(std::move(values)), weights_(std::move(weights)), stride_(stride) {}

template <typename T>
void KeyedJaggedTensor::set_offsets_from_lengths(const at::Tensor& lengths) {
  const int64_t n = lengths.numel();
  offsets_.resize_for_overwrite(static_cast<size_t>(n) + 1);
  const T* len = lengths.data_ptr<T>();
  int64_t* off = offsets_.data();
  off[0] = 0;
  // The common case first, in two branch-free passes (the first vectorises): every length in
  // [0, 2^31), so no running sum of fewer than 2^32 of them can pass int64.
  uint64_t high = 0;
  for (int64_t i = 0; i < n; ++i) high |= static_cast<uint64_t>(static_cast<int64_t>(len[i]));
  if (high <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) && n < (int64_t{1} << 32)) {
    // Four at a time: the running sum advances by one add per four lengths (the partial sums within a
    // group do not wait for it), so the scan is not one long chain of dependent adds.
    int64_t sum = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const int64_t a = len[i], ab = a + len[i + 1], abc = ab + len[i + 2], abcd = abc + len[i + 3];
      off[i + 1] = sum + a;
      off[i + 2] = sum + ab;
      off[i + 3] = sum + abc;
      off[i + 4] = sum += abcd;
    }
    for (; i < n; ++i) off[i + 1] = sum += static_cast<int64_t>(len[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = static_cast<int64_t>(len[i]);
    if (l < 0) fail(ErrorCode::InvalidKjt, "lengths[", i, "] is negative (", l, ")");
    // int64 lengths could wrap the running sum around to values.numel(); the kernels trust offsets.
    if (l > std::numeric_limits<int64_t>::max() - off[i]) {
      fail(ErrorCode::InvalidKjt, "lengths overflow int64 when summed (at lengths[", i, "] = ", l, ")");
    }
    off[i + 1] = off[i] + l;
  }
}

template <typename T>
void KeyedJaggedTensor::set_offsets(const at::Tensor& offsets) {
  const T* off = offsets.data_ptr<T>();
  const int64_t n = offsets.numel();
  if (off[0] != 0) fail(ErrorCode::InvalidKjt, "offsets[0] must be 0, got ", static_cast<int64_t>(off[0]));
  for (int64_t i = 1; i < n; ++i) {
    if (off[i] < off[i - 1]) {
      fail(ErrorCode::InvalidKjt, "offsets must be non-decreasing: offsets[", i, "] = ", static_cast<int64_t>(off[i]),
           " < offsets[", i - 1, "] = ", static_cast<int64_t>(off[i - 1]));
    }
  }
  offsets_.resize_for_overwrite(static_cast<size_t>(n));
  std::copy_n(off, n, offsets_.data());
}

void KeyedJaggedTensor::check_totals(const char* what) const {
  const int64_t total = offsets_.back();
  if (total != values_.numel()) {
    fail(ErrorCode::InvalidKjt, what, total, " but values has ", values_.numel(), " entries");
  }
  check_weights(weights_, values_.numel());
}

KeyedJaggedTensor KeyedJaggedTensor::from_lengths(std::vector<std::string> keys, at::Tensor values,
                                                  const at::Tensor& lengths, at::Tensor weights, int64_t stride_hint) {
  return from_lengths(std::make_shared<const std::vector<std::string>>(std::move(keys)), std::move(values), lengths,
                      std::move(weights), stride_hint);
}

KeyedJaggedTensor KeyedJaggedTensor::from_offsets(std::vector<std::string> keys, at::Tensor values,
                                                  const at::Tensor& offsets, at::Tensor weights, int64_t stride_hint) {
  return from_offsets(std::make_shared<const std::vector<std::string>>(std::move(keys)), std::move(values), offsets,
                      std::move(weights), stride_hint);
}

KeyedJaggedTensor KeyedJaggedTensor::from_lengths(KeyList keys, at::Tensor values, const at::Tensor& lengths,
                                                  at::Tensor weights, int64_t stride_hint) {
  if (!keys) fail(ErrorCode::InvalidKjt, "keys is missing");
  check_key_list(keys);
  check_index_tensor(values, "values");
  check_index_tensor(lengths, "lengths");
  const int64_t stride = derive_stride(keys->size(), lengths.numel(), stride_hint, "lengths");
  KeyedJaggedTensor kjt(std::move(keys), values.contiguous(), weights.defined() ? weights.contiguous() : weights,
                        stride);
  const at::Tensor dense = lengths.contiguous();
  if (dense.scalar_type() == at::kInt) {
    kjt.set_offsets_from_lengths<int32_t>(dense);
  } else {
    kjt.set_offsets_from_lengths<int64_t>(dense);
  }
  kjt.check_totals("lengths sum to ");
  return kjt;
}

KeyedJaggedTensor KeyedJaggedTensor::from_offsets(KeyList keys, at::Tensor values, const at::Tensor& offsets,
                                                  at::Tensor weights, int64_t stride_hint) {
  if (!keys) fail(ErrorCode::InvalidKjt, "keys is missing");
  check_key_list(keys);
  check_index_tensor(values, "values");
  check_index_tensor(offsets, "offsets");
  if (offsets.numel() < 1) fail(ErrorCode::InvalidKjt, "offsets must have keys.length * batchSize + 1 entries, got 0");
  const int64_t stride = derive_stride(keys->size(), offsets.numel() - 1, stride_hint, "offsets (minus the leading 0)");
  KeyedJaggedTensor kjt(std::move(keys), values.contiguous(), weights.defined() ? weights.contiguous() : weights,
                        stride);
  const at::Tensor dense = offsets.contiguous();
  if (dense.scalar_type() == at::kInt) {
    kjt.set_offsets<int32_t>(dense);
  } else {
    kjt.set_offsets<int64_t>(dense);
  }
  kjt.check_totals("offsets end at ");
  return kjt;
}

int64_t KeyedJaggedTensor::key_index(const std::string& key) const {
  const std::vector<std::string>& keys = *keys_;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace torchrec
