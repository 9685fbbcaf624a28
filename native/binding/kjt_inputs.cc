#include "binding/kjt_inputs.h"

#include <cmath>

#include "binding/convert.h"
#include "core/error.h"

namespace torchrec::binding {

KjtInputs read_kjt_inputs(const Napi::CallbackInfo& info, size_t first) {
  KjtInputs in;
  in.keys = to_string_vector(info[first], "keys");
  in.values = copy_index_array(info[first + 1], "values");
  const bool has_lengths = !is_nullish(info[first + 2]);
  const bool has_offsets = !is_nullish(info[first + 3]);
  if (has_lengths == has_offsets) fail(ErrorCode::InvalidKjt, "a KJT needs exactly one of lengths or offsets");
  if (has_lengths) in.lengths = copy_index_array(info[first + 2], "lengths");
  if (has_offsets) in.offsets = copy_index_array(info[first + 3], "offsets");
  if (!is_nullish(info[first + 4])) in.weights = copy_float_array(info[first + 4], "weights");
  if (!is_nullish(info[first + 5])) {
    const double stride = to_number(info[first + 5], "stride");
    if (!(stride >= 0) || std::floor(stride) != stride || stride > 1e12) {
      fail(ErrorCode::InvalidKjt, "stride must be a non-negative integer, got ", stride);
    }
    in.stride = static_cast<int64_t>(stride);
  }
  return in;
}

KeyedJaggedTensor build_kjt(const KjtInputs& in) {
  if (in.lengths.defined()) {
    return KeyedJaggedTensor::from_lengths(in.keys, in.values, in.lengths, in.weights, in.stride);
  }
  return KeyedJaggedTensor::from_offsets(in.keys, in.values, in.offsets, in.weights, in.stride);
}

}  // namespace torchrec::binding
