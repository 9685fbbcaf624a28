// KeyedJaggedTensor as the core sees it: key-major jagged ids (lengths[k*B + b] is the bag length of
// key k, sample b), validated once on construction so kernels can trust every offset.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/SmallVector.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace torchrec {

class KeyedJaggedTensor {
 public:
  // A key list that many batches share (a caller's cached list): no copy of the strings per batch.
  using KeyList = std::shared_ptr<const std::vector<std::string>>;

  // values: int32 or int64; lengths: int32 or int64; weights: float32 or undefined.
  // stride_hint is used only when there are no keys (B cannot be derived from lengths then).
  static KeyedJaggedTensor from_lengths(std::vector<std::string> keys, at::Tensor values, const at::Tensor& lengths,
                                        at::Tensor weights, int64_t stride_hint = 0);
  static KeyedJaggedTensor from_lengths(KeyList keys, at::Tensor values, const at::Tensor& lengths, at::Tensor weights,
                                        int64_t stride_hint = 0);
  // offsets: int32 or int64 with keys.size()*B + 1 entries, starting at 0, non-decreasing.
  static KeyedJaggedTensor from_offsets(std::vector<std::string> keys, at::Tensor values, const at::Tensor& offsets,
                                        at::Tensor weights, int64_t stride_hint = 0);
  static KeyedJaggedTensor from_offsets(KeyList keys, at::Tensor values, const at::Tensor& offsets, at::Tensor weights,
                                        int64_t stride_hint = 0);

  const std::vector<std::string>& keys() const { return *keys_; }
  const KeyList& key_list() const { return keys_; }
  int64_t stride() const { return stride_; }
  const at::Tensor& values() const { return values_; }
  // keys*B + 1 entries from 0, non-decreasing, ending at values().numel(). Plain memory, not a tensor:
  // a small batch's offsets live inside the KJT, so building one allocates nothing (issue 19: a
  // tensor's allocation and TensorImpl were a sixth of the core's fixed cost at S).
  c10::ArrayRef<int64_t> offsets() const { return offsets_; }
  const at::Tensor& weights() const { return weights_; }  // undefined when unweighted
  bool has_weights() const { return weights_.defined(); }
  // Index of `key` in keys(), or -1.
  int64_t key_index(const std::string& key) const;

 private:
  KeyedJaggedTensor(KeyList keys, at::Tensor values, at::Tensor weights, int64_t stride);
  // Fills offsets_ from `lengths` (int32 or int64, contiguous); their checks are the KJT's.
  template <typename T>
  void set_offsets_from_lengths(const at::Tensor& lengths);
  template <typename T>
  void set_offsets(const at::Tensor& offsets);
  // The checks both factories end with, once values_, offsets_ and weights_ are in place.
  void check_totals(const char* what) const;

  // Inline up to 255 bags (S: 4 keys x 32 samples); larger batches take one plain allocation.
  static constexpr unsigned kInlineOffsets = 256;

  KeyList keys_;  // never null
  at::Tensor values_;
  c10::SmallVector<int64_t, kInlineOffsets> offsets_;
  at::Tensor weights_;
  int64_t stride_ = 0;
};

}  // namespace torchrec
