// The KJT arguments of forward/backward, copied off the JS heap on the calling thread so the work
// can run on a pool thread while JS goes on (and may mutate its arrays).
#pragma once

#include <napi.h>

#include "core/keyed_jagged_tensor.h"

namespace torchrec::binding {

struct KjtInputs {
  std::vector<std::string> keys;
  at::Tensor values;
  at::Tensor lengths;  // exactly one of lengths / offsets is defined
  at::Tensor offsets;
  at::Tensor weights;  // undefined when absent
  int64_t stride = 0;
};

// Reads (keys, values, lengths|null, offsets|null, weights|null, stride) starting at info[first].
KjtInputs read_kjt_inputs(const Napi::CallbackInfo& info, size_t first);

KeyedJaggedTensor build_kjt(const KjtInputs& inputs);

}  // namespace torchrec::binding
